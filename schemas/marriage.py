"""Placeholder: the marriage tables are being built (see the open issue)."""
