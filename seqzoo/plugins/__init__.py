"""The built-in plugins. Each subpackage is found through the ``seqzoo`` entry-point group and
registers itself through the same hooks an outside plugin implements."""
