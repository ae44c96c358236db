"""Notifications: the transactional outbox (delivery comes with webhooks)."""
