"""The built-in plugins. The registry loads each by its module name, first
(``seqzoo.core.registry.BUILTIN_PLUGINS``), and each registers itself through the same hooks an
outside plugin implements."""
