"""Gifting between members and donation pools."""
