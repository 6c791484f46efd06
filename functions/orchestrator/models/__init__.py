"""Pydantic models shared by handlers, API, CLI and the benchmark harness (imports pydantic only)."""
