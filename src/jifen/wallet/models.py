"""Tables of the wallet domain."""
