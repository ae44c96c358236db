"""Partner programs: points exchange out and in, settlement reports."""
