"""Metrics that torch / torchvision lack, computed exactly over a whole pass."""
