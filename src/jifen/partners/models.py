"""Tables of the partners domain."""
