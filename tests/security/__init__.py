"""Issue #6, security: every published attack on LangGraph savers, refused (docs/security.md)."""
