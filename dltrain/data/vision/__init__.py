"""Image data: classification sets, generated shapes (segmentation, detection), paired / unpaired images, style images."""
