"""Tables of the referrals domain."""
