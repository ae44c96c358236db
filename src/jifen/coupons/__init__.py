"""Coupons: templates, issue, validate, redeem, best choice, expiry, void and restore."""
