"""Tables of the checkout domain."""
