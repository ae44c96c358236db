"""Tables of the badges domain."""
