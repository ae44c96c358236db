"""Lottery: prize pools, paid draws, stock and budget, provably fair seeds."""
