"""Layers of patch-based forecasters: patch embedding and a residual MLP.

- :class:`PatchEmbedding` cuts ``(batch, time, 2)`` (a scaled value and its observed flag per
  step) into non-overlapping patches of ``patch_size`` steps and embeds each patch:
  ``(batch, time, 2) -> (batch, time // patch_size, output_size)``. ``time`` must be a
  multiple of ``patch_size`` (pad on the left with unobserved steps).
- :class:`ResidualMLP` is the two-layer block with a linear skip used by patch models
  (TimesFM, Chronos-Bolt): ``(..., input_size) -> (..., output_size)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from seqzoo.core.errors import ShapeError
from seqzoo.core.modules import Layer, check_sequence
from seqzoo.core.validate import positive_int
from seqzoo.plugins.layers.basic import check_features

__all__ = ["PatchEmbedding", "ResidualMLP"]


class ResidualMLP(Layer):
    """``linear -> SiLU -> linear`` plus a linear skip; pointwise over the last axis."""

    needs_sequence = False

    def __init__(self, input_size: int, out_features: int, hidden_size: int | None = None) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(out_features, "out_features")
        hidden = positive_int(hidden_size or out_features, "hidden_size")
        self.hidden = nn.Linear(input_size, hidden)
        self.activation = nn.SiLU()
        self.out = nn.Linear(hidden, out_features)
        self.skip = nn.Linear(input_size, out_features)

    def forward(self, x: Tensor) -> Tensor:
        x = check_features(x, self.input_size, "residual-mlp")
        return self.out(self.activation(self.hidden(x))) + self.skip(x)

    def step(self, x: Tensor, state: object = None) -> tuple[Tensor, object]:
        return self.forward(x), state


class PatchEmbedding(Layer):
    """Embed non-overlapping patches of ``patch_size`` steps of ``(value, observed)`` pairs.

    Input ``(batch, time, 2)``; output ``(batch, time // patch_size, output_size)``.
    """

    causal = False  # a patch is emitted once it is complete, not at every step

    def __init__(self, input_size: int, patch_size: int, out_features: int) -> None:
        super().__init__()
        if input_size != 2:
            raise ShapeError(
                f"patch-embedding takes (value, observed) pairs, input_size 2; got {input_size}"
            )
        self.input_size = 2
        self.patch_size = positive_int(patch_size, "patch_size")
        self.output_size = positive_int(out_features, "out_features")
        self.mlp = ResidualMLP(2 * patch_size, out_features)

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, 2, "patch-embedding")
        batch, time, _ = x.shape
        if time % self.patch_size:
            raise ShapeError(
                f"patch-embedding needs a length that is a multiple of patch_size "
                f"{self.patch_size}; got {time} (pad on the left with unobserved steps)"
            )
        # (batch, patches, patch_size, 2) -> values then flags, side by side
        patches = x.reshape(batch, time // self.patch_size, self.patch_size, 2)
        flat = patches.transpose(2, 3).reshape(batch, time // self.patch_size, 2 * self.patch_size)
        return self.mlp(flat)
