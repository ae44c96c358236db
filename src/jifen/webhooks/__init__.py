"""Webhooks: endpoints, signed deliveries with retries, dead letters and replay."""
