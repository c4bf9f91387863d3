"""Validators for built trees (filled in as renderers land)."""
