"""The HTTP layer: app factory, authentication, error rendering."""
