"""Tables of the transfers domain."""
