"""Semantic segmentation: one class score per pixel.

FCN (fully convolutional classifier + learned upsampling), U-Net and SegNet
(encoder-decoder), PSPNet (pyramid pooling) and DeepLab-v3/v3+ (atrous
convolution and ASPP). Every model maps (N, C, H, W) images to (N, classes,
H, W) logits at the input resolution.
"""
