"""Tiers and growth: schemes, qualification, re-evaluation, benefits, history."""
