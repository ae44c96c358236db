"""Programs (tenants): settings, API keys and the audit log."""
