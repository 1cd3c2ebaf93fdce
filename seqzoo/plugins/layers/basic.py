"""Pointwise layers: each time step is transformed on its own.

Pointwise layers (``needs_sequence = False``) take ``(batch, time, features)`` or
``(batch, features)``; their ``step(x_t, state)`` is ``(forward(x_t), state)``. The embedding
maps integer token ids ``(batch, time)`` to vectors ``(batch, time, embedding_dim)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.modules import Layer, State, check_ids, check_step, check_token_range
from seqzoo.core.validate import boolean, positive_int, probability

__all__ = ["ACTIVATIONS", "Activation", "Dropout", "Embedding", "LayerNorm", "Linear"]

#: Activation names (as registered) and the torch modules they build.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky-relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def check_features(x: object, features: int, who: str) -> Tensor:
    """Check ``x`` is a float tensor ``(batch, time, features)`` or ``(batch, features)``."""
    if (
        not isinstance(x, Tensor)
        or x.dim() not in (2, 3)
        or x.shape[-1] != features
        or not x.is_floating_point()
    ):
        got = (
            f"shape {tuple(x.shape)} of dtype {str(x.dtype).removeprefix('torch.')}"
            if isinstance(x, Tensor)
            else f"a {type(x).__name__}"
        )
        raise ShapeError(
            f"{who} expects a float tensor of shape (batch, time, {features}) or "
            f"(batch, {features}); got {got}"
        )
    return x


class _Pointwise(Layer):
    """Shared step protocol of pointwise layers: no state, a step is the forward of one step."""

    needs_sequence = False
    _who = "pointwise"

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, output_size)``; the state passes through."""
        return self(check_step(x, self.input_size, self._who)), state


class Linear(_Pointwise):
    """Affine map of the feature axis: ``(..., input_size) -> (..., out_features)``."""

    _who = "linear"

    def __init__(self, input_size: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(out_features, "out_features")
        self.linear = nn.Linear(input_size, out_features, bias=boolean(bias, "bias"))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(check_features(x, self.input_size, self._who))


class Dropout(_Pointwise):
    """Zeroes features with probability ``p`` while training; the identity in eval mode."""

    _who = "dropout"

    def __init__(self, input_size: int, p: float = 0.1) -> None:
        super().__init__()
        self.input_size = self.output_size = positive_int(input_size, "input_size")
        self.dropout = nn.Dropout(probability(p, "p"))

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(check_features(x, self.input_size, self._who))


class LayerNorm(_Pointwise):
    """Normalises the feature axis of each step, with a learned scale and shift."""

    _who = "layernorm"

    def __init__(self, input_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.input_size = self.output_size = positive_int(input_size, "input_size")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise ConfigError(f"must be a positive number, got {eps!r}", field="eps")
        self.norm = nn.LayerNorm(input_size, eps=float(eps))

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(check_features(x, self.input_size, self._who))


class Activation(_Pointwise):
    """An elementwise nonlinearity, one of :data:`ACTIVATIONS`; shapes are unchanged."""

    def __init__(self, input_size: int, function: str = "relu") -> None:
        super().__init__()
        self.input_size = self.output_size = positive_int(input_size, "input_size")
        if function not in ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {function!r}; choose one of {sorted(ACTIVATIONS)}",
                field="function",
            )
        self.function = function
        self._who = function  # error messages name the layer as the user registered it
        self.activation = ACTIVATIONS[function]()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(check_features(x, self.input_size, self._who))

    def extra_repr(self) -> str:
        return f"function={self.function!r}"


class Embedding(Layer):
    """Token ids to vectors: ``(batch, time)`` ids -> ``(batch, time, embedding_dim)``.

    Token ids have no feature size, so ``input_size`` is ignored (it stays the first parameter
    so every layer factory has the same shape). The built layer reports
    ``input_size = num_embeddings``: the width of the one-hot input it is equivalent to.
    """

    takes_ids = True
    _who = "embedding"

    def __init__(
        self,
        input_size: int | None = None,
        *,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
    ) -> None:
        super().__init__()
        positive_int(num_embeddings, "num_embeddings")
        positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None and (
            isinstance(padding_idx, bool)
            or not isinstance(padding_idx, int)
            or not -num_embeddings <= padding_idx < num_embeddings
        ):
            raise ConfigError(
                f"must be null or an id in [-{num_embeddings}, {num_embeddings}), "
                f"got {padding_idx!r}",
                field="padding_idx",
            )
        self.input_size = num_embeddings
        self.output_size = embedding_dim
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)

    def _lookup(self, ids: Tensor, who: str) -> Tensor:
        # nn.Embedding would fail with a bare IndexError on CPU and a device-side assert on GPU
        check_token_range(ids, self.input_size, who)
        return self.embedding(ids)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time)`` integer ids -> ``(batch, time, embedding_dim)``."""
        return self._lookup(check_ids(x, 2, self._who), self._who)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step of ids ``(batch,)`` -> ``(batch, embedding_dim)``; the state passes through."""
        return self._lookup(check_ids(x, 1, f"{self._who}.step"), f"{self._who}.step"), state
