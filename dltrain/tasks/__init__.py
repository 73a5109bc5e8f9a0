"""Tasks: what a batch means for a task family (loss, metrics, logged visuals)."""
