"""Members, addressed by the merchant's own id."""
