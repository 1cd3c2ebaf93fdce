"""The contract and the machinery: hookspecs, registry, records, composition, errors.

``core`` knows no concrete model: the built-ins reach it through plugins, as outside ones do.
"""
