"""Leaderboards: daily/weekly/monthly boards per metric and top-N rewards."""
