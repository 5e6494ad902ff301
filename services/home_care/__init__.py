"""Home and community care (居家社区养老服务, DOMAIN.md section 3)."""
