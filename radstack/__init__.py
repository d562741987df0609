"""The `radstack` command: one entry point for every process of the stack."""
