"""Old import path of :mod:`seqzoo.plugins.trainers.steps` (the same module object)."""

import sys

from seqzoo.plugins.trainers import steps as _module

sys.modules[__name__] = _module
