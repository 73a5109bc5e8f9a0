"""Self-supervised models: the masked autoencoder (MAE, ``mae.py``) and the ViT classifier that starts
from its encoder (``mae_classifier.py``). Trained by ``dltrain.tasks.masked_autoencoder`` and
``dltrain.tasks.classification``."""
