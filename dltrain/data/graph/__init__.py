"""Graph data: the graph batch format, node-level and graph-level data modules, and their datasets."""
