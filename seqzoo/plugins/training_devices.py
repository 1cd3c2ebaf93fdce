"""Old import path of :mod:`seqzoo.plugins.trainers.devices` (the same module object)."""

import sys

from seqzoo.plugins.trainers import devices as _module

sys.modules[__name__] = _module
