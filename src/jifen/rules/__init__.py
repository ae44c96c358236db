"""Earning rules: versioned data (trigger, CEL condition, effects, limits) evaluated per event."""
