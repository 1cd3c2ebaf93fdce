"""Old import path of :mod:`seqzoo.plugins.trainers.ddp` (the same module object)."""

import sys

from seqzoo.plugins.trainers import ddp as _module

sys.modules[__name__] = _module
