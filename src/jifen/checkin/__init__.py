"""Daily check-in: streaks, make-up check-ins, the calendar."""
