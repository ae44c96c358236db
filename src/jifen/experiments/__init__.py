"""Experiments: variant rules on a deterministic share of members, and a comparison report."""
