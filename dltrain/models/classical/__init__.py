"""Classical models of the notes: linear, logistic and softmax regression as ``nn.Module``s.

They are the one-layer ancestors of every deep network here: an affine map
followed by the link function that the loss expects (identity, sigmoid,
softmax). The link itself lives in the loss (MSE, BCE-with-logits,
cross-entropy), which is both the textbook formulation and numerically stable.
"""
