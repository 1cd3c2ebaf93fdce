"""Old import path of :mod:`seqzoo.plugins.trainers.ddp_stop` (the same module object)."""

import sys

from seqzoo.plugins.trainers import ddp_stop as _module

sys.modules[__name__] = _module
