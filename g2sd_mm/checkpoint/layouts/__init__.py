"""Key maps between checkpoint layouts (pure functions over state dicts)."""
