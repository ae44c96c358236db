"""Shared plumbing used by every domain: ids, database types, hashing, pagination."""
