"""Datasets and loaders. A data module states the facts a model needs
(``num_classes``, ``in_channels``, ``image_size``) and builds the loaders."""
