"""Tables of the users domain."""
