"""Old import path of :mod:`seqzoo.plugins.trainers.ddp_launch` (the same module object)."""

import sys

from seqzoo.plugins.trainers import ddp_launch as _module

sys.modules[__name__] = _module
