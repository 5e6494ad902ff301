"""The rules: one module per domain plus the cross-cutting services."""
