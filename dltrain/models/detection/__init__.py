"""Object detectors: torchvision's Faster R-CNN, Mask R-CNN, RetinaNet and SSD (configured), and a YOLO written here."""
