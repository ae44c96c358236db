"""Web pages and their static files (served at /static)."""
