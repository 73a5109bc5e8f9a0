"""The loader machinery every data module builds on: the DataModule base, in-memory datasets, the on-device loader."""
