"""Pictures for TensorBoard and the run directory: heat maps, labelled image grids, curves."""
