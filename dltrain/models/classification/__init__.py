"""Image classifiers of the notes, one architecture (or family) per file.

Conventions every classifier here follows (docs/models.md explains them):

* constructor keywords ``num_classes``, ``in_channels``, ``image_size``;
* small inputs (below 64 px) get a small-image stem instead of the
  ImageNet stem, so CIFAR / MNIST / 8 px digits run without upsampling;
* the final classifier is ``self.head``; ``freeze_backbone`` freezes all else;
* models with auxiliary classifiers return ``{"logits": ..., "aux": [...]}``
  in training mode and plain logits in eval mode.
"""
