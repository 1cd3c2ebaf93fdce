"""The public modules plugin authors import instead of ``seqzoo.core.*``."""

from __future__ import annotations

import subprocess
import sys

import seqzoo.core.errors as core_errors


def test_seqzoo_errors_is_the_documented_import() -> None:
    import seqzoo.errors as errors
    from seqzoo.errors import ConfigError, SeqzooError, ShapeError

    assert set(errors.__all__) == set(core_errors.__all__)
    for name in errors.__all__:
        assert getattr(errors, name) is getattr(core_errors, name)
    assert issubclass(ConfigError, SeqzooError) and issubclass(ShapeError, SeqzooError)


def test_seqzoo_errors_imports_without_torch() -> None:
    code = "import sys, seqzoo.errors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_seqzoo_nn_gives_plugin_authors_the_base_classes() -> None:
    import seqzoo.core.modules as modules
    import seqzoo.nn as nn

    assert set(nn.__all__) == set(modules.__all__)
    for name in nn.__all__:
        assert getattr(nn, name) is getattr(modules, name)


def test_the_default_forward_stateful_loops_over_step() -> None:
    import torch

    from seqzoo.errors import NotSteppableError
    from seqzoo.nn import SequenceModel

    class Running(SequenceModel):
        """A running sum: steps, but writes no forward_stateful of its own."""

        def __init__(self, output: str = "last") -> None:
            super().__init__()
            self.input_size, self.output = 2, output

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            sums = x.cumsum(dim=1)
            return sums[:, -1] if self.output == "last" else sums

        def initial_state(self, batch_size, *, device=None, dtype=None):
            return torch.zeros(batch_size, 2, device=device, dtype=dtype)

        def step(self, x, state=None):
            state = x if state is None else state + x
            return state, state

    x = torch.randn(3, 7, 2)
    for output in ("last", "sequence"):
        model = Running(output)
        first, state = model.forward_stateful(x[:, :4])
        second, _ = model.forward_stateful(x[:, 4:], state)
        whole = model(x)
        if output == "sequence":
            torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
        else:
            torch.testing.assert_close(second, whole)

    class Whole(SequenceModel):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=1)

    import pytest

    with pytest.raises(NotSteppableError, match="no step"):
        Whole().forward_stateful(x)
