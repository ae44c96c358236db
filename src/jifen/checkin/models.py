"""Tables of the checkin domain."""
