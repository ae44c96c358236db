"""Checkout deduction: quote, hold, capture, void and refund points on an order."""
