"""Scheduled jobs: each runs from the worker loop and once from ``jifen jobs run NAME``."""
