"""Tasks: newbie, daily, growth and challenge tasks, submissions and their review."""
