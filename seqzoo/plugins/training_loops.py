"""Old import path of :mod:`seqzoo.plugins.trainers.supervised` (the same module object)."""

import sys

from seqzoo.plugins.trainers import supervised as _module

sys.modules[__name__] = _module
