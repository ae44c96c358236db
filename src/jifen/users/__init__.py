"""Console users: roles, password login, sessions and per-program access."""
