"""Losses that torch.nn does not have, for the loss config group."""
