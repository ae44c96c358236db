"""Badges: definitions with criteria, awards, the badge wall and public badge pages."""
