"""Model zoo: plain ``nn.Module``s that know nothing about the trainer.

Each architecture lives in its own file under a family folder
(``classification/``, later ``segmentation/``, ``sequence/`` ...). Configs in
``configs/model/`` name a class or factory by ``_target_`` and read shapes
(``num_classes``, ``in_channels``, ``image_size``) from the data config.
"""
