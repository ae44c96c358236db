"""jifen (积分): a self-hosted membership and points engine with a double-entry ledger."""

__version__ = "0.1.0"
