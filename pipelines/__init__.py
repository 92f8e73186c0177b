"""Pipeline entrypoints of this project."""
