"""Old import path of :mod:`seqzoo.plugins.trainers.tbptt` (the same module object)."""

import sys

from seqzoo.plugins.trainers import tbptt as _module

sys.modules[__name__] = _module
