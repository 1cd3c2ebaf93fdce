"""Old import path of :mod:`seqzoo.plugins.trainers.checks` (the same module object)."""

import sys

from seqzoo.plugins.trainers import checks as _module

sys.modules[__name__] = _module
