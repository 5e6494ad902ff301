"""Placeholder: the beds tables are being built (see the open issue)."""
