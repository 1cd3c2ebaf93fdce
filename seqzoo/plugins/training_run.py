"""Old import path of :mod:`seqzoo.plugins.trainers.run` (the same module object)."""

import sys

from seqzoo.plugins.trainers import run as _module

sys.modules[__name__] = _module
