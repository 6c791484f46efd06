"""The notebook task's activity reporter: a sidecar that reads Jupyter on the task's own network and
writes what it sees to the environments table, so the idle sweep needs no inbound path to the notebook."""
