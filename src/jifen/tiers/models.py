"""Tables of the tiers domain."""
