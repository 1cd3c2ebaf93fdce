"""Recurrent networks: a stack of RNN / GRU / LSTM layers with a linear head.

Shapes:

- input ``x``: ``(batch, time, input_size)`` floats;
- ``output="sequence"``: ``(batch, time, output_size)``, the head applied at every step;
- ``output="last"``: ``(batch, output_size)``, the head applied to the final state (for a
  bidirectional network: the forward direction at the last step and the backward direction at
  t=0, each having read the whole sequence);
- step: ``(batch, input_size) -> (batch, output_size)``; state ``h``
  ``(num_layers, batch, hidden_size)``, or ``(h, c)`` for an LSTM.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqzoo.core.errors import NotSteppableError
from seqzoo.core.modules import SequenceModel, State, autograd_off, inference_mode
from seqzoo.core.validate import boolean, output_mode, positive_int
from seqzoo.plugins.nn import RecurrentCore

__all__ = ["RecurrentModel"]


class RecurrentModel(SequenceModel):
    """``cell`` ("rnn", "gru", "lstm") layers, dropout, then a linear head.

    Input ``(batch, time, input_size)``; output ``(batch, output_size)`` for ``output="last"``,
    ``(batch, time, output_size)`` for ``output="sequence"``. Bidirectional networks run whole
    sequences only.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        output: str = "last",
    ) -> None:
        super().__init__()
        self._remember_config(locals())
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        self.output = output_mode(output)
        self.name_in_messages = cell
        boolean(bidirectional, "bidirectional")
        self.causal = not bidirectional  # the backward direction reads the future
        self.core = RecurrentCore(
            cell, input_size, hidden_size, num_layers, bidirectional=bidirectional, dropout=dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.core.output_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, input_size)`` -> ``(batch, output_size)`` or ``(batch, time, out)``
        (``model(x)`` checks ``x`` first: :meth:`SequenceModel.check_input`)."""
        outputs, state = self.core(x)
        # the final state, not outputs[:, -1]: a backward direction ends at t=0
        features = self.core.summary(state) if self.output == "last" else outputs
        return self.head(self.dropout(features))

    def _require_causal(self) -> None:
        if not self.causal:
            raise NotSteppableError(
                f"{type(self).__name__} with bidirectional=True reads the future and cannot "
                "run step by step or in chunks; call it on whole sequences, or set "
                "bidirectional=False"
            )

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk ``(batch, time, input_size)`` from ``state``; return output and state."""
        self._require_causal()
        outputs, state = self.core(x, state)
        features = outputs[:, -1] if self.output == "last" else outputs
        return self.head(self.dropout(features)), state

    def check_state(self, state: State, x: Tensor) -> None:
        """The recurrent stack's own check: it names the ``(h, c)`` layout."""
        self.core.check_state(state, x.shape[0])
        super().check_state(state, x)  # dtype and device

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return self.core.initial_state(batch_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, output_size)``: the fused cell kernels
        (:meth:`RecurrentCore.cells`), O(1) in the steps so far. With autograd off it runs
        under ``torch.inference_mode`` (see :func:`~seqzoo.core.modules.autograd_off`)."""
        if not self.causal:
            self._require_causal()
        core = self.core
        state = core.prepare_step(x, state)  # checks x as check_step does, and the state
        if not autograd_off():
            output, state = core.cells(x, state)
            return self.head(self.dropout(output)), state
        with inference_mode(True):
            output, state = core.cells(x, state)
            if self.training:  # dropout is the identity in eval: skip its call when streaming
                output = self.dropout(output)
            return self.head(output), state
