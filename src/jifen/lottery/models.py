"""Tables of the lottery domain."""
