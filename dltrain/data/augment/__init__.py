"""Augmentations: per-sample image transforms, and whole-batch ones that loaders and tasks call (MixUp / CutMix, shifts)."""
