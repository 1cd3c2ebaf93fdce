"""Pretrained models: the catalogue, Hub I/O and the bundled weights."""
