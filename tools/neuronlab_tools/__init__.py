"""Repository tooling: the cost model that writes docs/cost.md. Not part of any runtime asset."""
