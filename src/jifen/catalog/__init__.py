"""Rewards catalog: items, stock, limits and redemption orders."""
