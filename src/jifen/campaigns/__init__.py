"""Campaigns (time-boxed multipliers for an audience) and budgets with a hard stop."""
