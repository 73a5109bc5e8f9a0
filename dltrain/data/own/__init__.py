"""Your own data: arrays, tables and text lines, their splits, targets and standardisation (docs/own_data.md)."""
