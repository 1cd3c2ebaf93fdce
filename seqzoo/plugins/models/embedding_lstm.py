"""An embedding + LSTM over token ids: a language model, or a sequence classifier.

Shapes:

- input ``ids``: ``(batch, time)`` integer token ids, optionally with ``lengths`` ``(batch,)``;
- ``output="sequence"``: ``(batch, time, output_size)``, zeros at padded positions;
- ``output="last"``: ``(batch, output_size)``, from each sequence's own last real token;
- step: ids ``(batch,) -> (batch, output_size)``; state ``(h, c)``, each
  ``(num_layers, batch, hidden_size)``.

``output_size=None`` means ``vocab_size``: next-token logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.modules import SequenceModel, State, autograd_off, inference_mode
from seqzoo.core.validate import output_mode, positive_int
from seqzoo.plugins.nn import RecurrentCore

__all__ = ["EmbeddingLSTM"]


class EmbeddingLSTM(SequenceModel):
    """Embedding, LSTM layers, dropout, linear head.

    Input ``(batch, time)`` ids; output ``(batch, time, output_size)`` for
    ``output="sequence"``, ``(batch, output_size)`` for ``output="last"``.
    """

    input_kind = "ids"

    def __init__(
        self,
        vocab_size: int,
        output_size: int | None = None,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        output: str = "sequence",
        padding_idx: int | None = 0,
    ) -> None:
        super().__init__()
        self._remember_config(locals())
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        if output_size is not None:
            positive_int(output_size, "output_size")
        self.output_size = vocab_size if output_size is None else output_size
        positive_int(embedding_dim, "embedding_dim")
        # RecurrentCore checks these too, but lets a bool (an int to Python) through
        positive_int(hidden_size, "hidden_size")
        positive_int(num_layers, "num_layers")
        self.output = output_mode(output)
        if padding_idx is not None and (
            isinstance(padding_idx, bool)
            or not isinstance(padding_idx, int)
            or not 0 <= padding_idx < vocab_size
        ):
            raise ConfigError(
                f"must be None or a token id in [0, {vocab_size}), got {padding_idx!r}",
                field="padding_idx",
            )
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.core = RecurrentCore("lstm", embedding_dim, hidden_size, num_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, self.output_size)

    def _lengths(self, ids: Tensor, lengths: Tensor | Sequence[int] | None) -> Tensor | None:
        """True lengths ``(batch,)`` int64 on the CPU, or None when no sequence is padded."""
        batch, time = ids.shape
        if lengths is None:
            if self.padding_idx is None:
                return None
            # trailing padding only: a pad id inside a sequence is an ordinary token
            positions = torch.arange(1, time + 1, device=ids.device)
            real = ids != self.padding_idx
            lengths = (real * positions).amax(dim=1).clamp(min=1)
        else:
            lengths = torch.as_tensor(lengths)
            if (
                lengths.shape != (batch,)
                or lengths.is_floating_point()
                or (lengths.numel() > 0 and (lengths.min() < 1 or lengths.max() > time))
            ):
                raise ShapeError(
                    f"{type(self).__name__} expects lengths of shape ({batch},), integers in "
                    f"[1, {time}]; got shape {tuple(lengths.shape)}: {lengths.tolist()!r}"
                )
        lengths = lengths.to("cpu", torch.int64)  # pack_padded_sequence wants them on the CPU
        return None if bool((lengths == time).all()) else lengths

    def forward(self, ids: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """``(batch, time)`` ids -> ``(batch, time, output_size)`` or ``(batch, output_size)``.

        ``lengths`` ``(batch,)``: each sequence's true length; without it, trailing
        ``padding_idx`` tokens are padding. Every sequence gets the output it would get alone.
        ``model(ids)`` checks the ids first (:meth:`SequenceModel.check_input`).
        """
        true_lengths = self._lengths(ids, lengths)
        embedded = self.dropout(self.embedding(ids))
        if true_lengths is None:
            outputs, state = self.core(embedded)
        else:
            # packing stops each sequence at its own end, so padding never reaches the state
            packed = pack_padded_sequence(
                embedded, true_lengths, batch_first=True, enforce_sorted=False
            )
            packed_outputs, state = self.core(packed)
            outputs, _ = pad_packed_sequence(
                packed_outputs, batch_first=True, total_length=ids.shape[1]
            )
        if self.output == "last":
            return self.head(self.dropout(self.core.summary(state)))
        y = self.head(self.dropout(outputs))
        if true_lengths is not None:
            # the head's bias would make padded positions nonzero; zero them explicitly
            steps = torch.arange(ids.shape[1], device=ids.device)
            mask = steps < true_lengths.to(ids.device).unsqueeze(1)  # (batch, time)
            y = y * mask.unsqueeze(-1).to(y.dtype)
        return y

    def forward_stateful(self, ids: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk ``(batch, time)`` of ids from ``state``; return output and state.

        Chunks are slices of continuous token streams (truncated BPTT): every id, padding
        included, is read as a token.
        """
        outputs, state = self.core(self.dropout(self.embedding(ids)), state)
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

    def step(self, ids: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step: ids ``(batch,)`` -> ``(batch, output_size)``, with the fused LSTM cells
        (under ``torch.inference_mode`` when autograd is off)."""
        if autograd_off():
            with inference_mode(True):
                return self._step(ids, state)
        return self._step(ids, state)

    def _step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        x = self.embedding(ids)
        if self.training:  # dropout is the identity in eval: skip its calls when streaming
            x = self.dropout(x)
        output, state = self.core.cells(x, self.core.prepare_step(x, state))
        if self.training:
            output = self.dropout(output)
        return self.head(output), state
