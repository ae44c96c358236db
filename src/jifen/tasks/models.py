"""Tables of the tasks domain."""
