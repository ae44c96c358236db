"""Tables of the coupons domain."""
