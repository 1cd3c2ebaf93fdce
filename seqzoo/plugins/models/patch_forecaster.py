"""A zero-shot forecaster: a recurrent network over patches of a per-series-scaled context.

The recipe of the current pretrained forecasters (Chronos-Bolt, TimesFM, TiRex), with a
recurrent core:

1. the context ``(batch, time)`` (NaN marks a missing value, left padding included) is scaled
   per series by its observed mean and standard deviation;
2. it is cut into patches of ``patch_size`` steps, each embedded from its values and observed
   flags by a residual MLP (an optional season hint adds a learned vector);
3. a stack of LSTM or GRU layers reads the patches;
4. a residual MLP maps the last state to ``horizon`` steps of ``len(quantiles)`` quantiles,
   sorted so they never cross, then unscaled.

At inference two optional averages (config, off by default; the zoo entries turn them on)
make the forecast steadier: ``average_negated`` also forecasts the negated context and mirrors
the result back (a forecast of ``-x`` is a forecast of ``x`` upside down), and
``context_halvings = k`` also forecasts from the latest half, quarter, ... (``k`` times, down to
two patches) of the context. The quantiles of all passes are averaged level by level.
``interval_scale = s`` then stretches every quantile's distance from the median by ``s``
(a calibration of the interval width, fitted on held-out series; 1 leaves it alone).
``inference_dtype = "bfloat16"`` runs the embedding and the recurrent core (nearly all the
cost) under bfloat16 autocast at inference, where the device has fast kernels for it; scaling,
head and training stay float32.

Shapes: ``forward(context)`` takes ``(batch, time)`` or ``(batch, time, 1)`` raw values and
returns ``(batch, horizon, quantiles)`` in the same units. :meth:`predict` rolls out past the
native horizon by feeding the median back. The model reads whole contexts (the scaling looks at
all of it), so it does not run step by step; its recurrent core does, patch by patch.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.core.modules import SequenceModel, State
from seqzoo.core.validate import positive_int
from seqzoo.plugins.layers.patching import PatchEmbedding, ResidualMLP
from seqzoo.plugins.nn import RecurrentCore

__all__ = ["DEFAULT_QUANTILES", "PatchForecaster", "season_bucket"]

DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Upper bounds of the season-hint buckets: 1 (none), 2-5, 6-9, 10-15, 16-35, 36-100, >100.
_SEASON_EDGES = (1, 5, 9, 15, 35, 100)
_SEASON_BUCKETS = len(_SEASON_EDGES) + 2  # + "unknown" (0) and "> 100"
#: ``inference_dtype`` choices: bfloat16 runs the embedding and the recurrent core in bfloat16
#: at inference (about twice as fast on CPUs with AVX-512 BF16 or AMX), where the device has
#: fast kernels for it; elsewhere it falls back to float32.
_INFERENCE_DTYPES = ("float32", "bfloat16")
#: Scaled values are clipped here: a spike of 50 standard deviations says no more than 30.
_CLIP = 30.0


@functools.cache
def _fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matrix and recurrent kernels natively."""
    if device.type == "cpu":
        # the check oneDNN's recurrent kernels use; without it bfloat16 is emulated (slower)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return False


def season_bucket(season: int | None) -> int:
    """The embedding index of a season-length hint (0: no hint)."""
    if season is None or season < 1:
        return 0
    for index, edge in enumerate(_SEASON_EDGES, start=1):
        if season <= edge:
            return index
    return _SEASON_BUCKETS - 1


class PatchForecaster(SequenceModel):
    """Patch embedding -> ``cell`` layers -> quantile head, on per-series-scaled contexts.

    ``forward(context (batch, time)) -> (batch, horizon, len(quantiles))`` in raw units.
    """

    input_kind = "real"
    input_ranks = (2, 3)  # (batch, time) or (batch, time, 1)
    accepts_nan = True  # NaN marks a missing value (left padding included)
    causal = False
    #: season length -> the index of its learned hint vector (0: none)
    season_bucket = staticmethod(season_bucket)

    def __init__(
        self,
        input_size: int = 1,
        patch_size: int = 16,
        d_model: int = 256,
        hidden_size: int = 256,
        num_layers: int = 2,
        cell: str = "lstm",
        horizon: int = 64,
        max_context: int = 512,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        dropout: float = 0.0,
        average_negated: bool = False,
        context_halvings: int = 0,
        interval_scale: float = 1.0,
        inference_dtype: str = "float32",
    ) -> None:
        super().__init__()
        self._remember_config(locals())
        if input_size != 1:
            raise ConfigError(
                f"patch-forecaster forecasts one series at a time (input_size 1); got "
                f"{input_size}: pass each column as its own series",
                field="input_size",
            )
        self.input_size = 1
        self.patch_size = positive_int(patch_size, "patch_size")
        self.horizon = positive_int(horizon, "horizon")
        self.max_context = positive_int(max_context, "max_context")
        if max_context % patch_size:
            raise ConfigError(
                f"max_context ({max_context}) must be a multiple of patch_size ({patch_size})",
                field="max_context",
            )
        levels = [float(q) for q in quantiles]
        if not levels or any(not 0 < q < 1 for q in levels) or sorted(set(levels)) != levels:
            raise ConfigError(
                f"quantiles must be increasing levels strictly between 0 and 1; got {quantiles}",
                field="quantiles",
            )
        self.quantiles = levels
        symmetric = all(
            abs(a + b - 1) < 1e-9 for a, b in zip(levels, reversed(levels), strict=True)
        )
        if average_negated and not symmetric:
            raise ConfigError(
                "average_negated mirrors the quantiles, so they must be symmetric around 0.5 "
                f"(q and 1 - q); got {levels}",
                field="average_negated",
            )
        self.average_negated = bool(average_negated)
        if not isinstance(context_halvings, int) or context_halvings < 0:
            raise ConfigError(
                f"context_halvings must be a whole number >= 0; got {context_halvings!r}",
                field="context_halvings",
            )
        self.context_halvings = context_halvings
        if (
            isinstance(interval_scale, bool)
            or not isinstance(interval_scale, (int, float))
            or not math.isfinite(interval_scale)
            or interval_scale <= 0
        ):
            raise ConfigError(
                f"interval_scale must be a finite number > 0; got {interval_scale!r}",
                field="interval_scale",
            )
        if interval_scale != 1 and 0.5 not in levels:
            raise ConfigError(
                "interval_scale stretches the quantiles around the median, so the quantiles "
                f"must include 0.5; got {levels}",
                field="interval_scale",
            )
        self.interval_scale = float(interval_scale)
        if inference_dtype not in _INFERENCE_DTYPES:
            raise ConfigError(
                f"inference_dtype must be one of {', '.join(_INFERENCE_DTYPES)}; got "
                f"{inference_dtype!r}",
                field="inference_dtype",
            )
        self.inference_dtype = inference_dtype
        self.embed = PatchEmbedding(2, patch_size, d_model)
        self.season = nn.Embedding(_SEASON_BUCKETS, d_model)
        nn.init.zeros_(self.season.weight)  # no hint and an unhelpful hint start equal
        self.core = RecurrentCore(cell, d_model, hidden_size, num_layers, dropout=dropout)
        self.norm = nn.LayerNorm(self.core.output_size)
        self.head = ResidualMLP(self.core.output_size, horizon * len(levels), hidden_size)

    # -- scaling ----------------------------------------------------------------------------

    def _prepare(self, context: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw ``(batch, time)`` -> ``(patch input (batch, time', 2), loc, scale)``.

        Keeps the last ``max_context`` steps and left-pads to whole patches; ``loc`` and
        ``scale`` are ``(batch, 1)``, the observed mean and standard deviation (a constant or
        empty series gets scale ``|mean|`` or 1, so it comes back flat).
        """
        if context.dim() == 3 and context.shape[-1] == 1:
            context = context[..., 0]
        if context.dim() != 2 or not context.is_floating_point():
            raise ShapeError(
                "patch-forecaster takes a float context of shape (batch, time) or "
                f"(batch, time, 1); got shape {tuple(context.shape)} of {context.dtype}"
            )
        context = context[:, -self.max_context :]
        pad = -context.shape[1] % self.patch_size
        if pad:
            context = nn.functional.pad(context, (pad, 0), value=math.nan)
        observed = torch.isfinite(context)
        count = observed.sum(dim=1, keepdim=True).clamp(min=1)
        values = torch.where(observed, context, torch.zeros_like(context))
        loc = values.sum(dim=1, keepdim=True) / count
        centred = torch.where(observed, context - loc, torch.zeros_like(context))
        scale = (centred.square().sum(dim=1, keepdim=True) / count).sqrt()
        fallback = torch.where(loc.abs() > 0, loc.abs(), torch.ones_like(loc))
        scale = torch.where(scale > 1e-6 * fallback, scale, fallback)
        scaled = (centred / scale).clamp(-_CLIP, _CLIP)
        features = torch.stack([scaled, observed.to(scaled.dtype)], dim=-1)
        return features, loc, scale

    def _run(self, context: Tensor, season: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        features, loc, scale = self._prepare(context)
        with self._autocast(features.device):
            tokens = self.embed(features)
            if season is not None:
                tokens = tokens + self.season(season.to(tokens.device).long())[:, None, :]
            _, state = self.core(tokens)
            summary = self.core.summary(state)
        # the scaling, the head and the unscaling stay in float32: only the per-patch work
        # (embedding and recurrence, nearly all the cost) runs in bfloat16
        last = self.norm(summary.to(features.dtype))
        out = self.head(last).reshape(len(features), self.horizon, len(self.quantiles))
        flat = features[..., 0].abs().amax(dim=1) == 0  # no variation in the context
        return torch.sort(out, dim=-1).values, loc, scale, flat

    @property
    def reference_tolerance(self) -> tuple[float, float]:  # type: ignore[override]  # read-only here: follows inference_dtype
        # bfloat16 keeps 8 significant bits; a machine without fast bfloat16 runs float32
        return (2e-2, 2e-2) if self.inference_dtype == "bfloat16" else (1e-6, 1e-6)

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        """bfloat16 autocast at inference when ``inference_dtype`` asks for it and the device
        has fast bfloat16 kernels; otherwise nothing (training always runs in float32)."""
        if self.training or self.inference_dtype != "bfloat16" or not _fast_bfloat16(device):
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def forward_scaled(
        self, context: Tensor, season: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(quantiles in scaled units (batch, horizon, Q), loc, scale)``: what training fits."""
        out, loc, scale, _ = self._run(context, season)
        return out, loc, scale

    def _single(self, context: Tensor, season: Tensor | None) -> Tensor:
        """One pass, raw units; a context with no variation gets a flat forecast."""
        out, loc, scale, flat = self._run(context, season)
        raw = out * scale[:, :, None] + loc[:, :, None]
        return torch.where(flat[:, None, None], loc[:, :, None].expand_as(raw), raw)

    def _signed(self, context: Tensor, season: Tensor | None) -> Tensor:
        out = self._single(context, season)
        if self.average_negated:
            # quantile q of -x, negated, is quantile 1 - q of x: flip the level axis back
            out = (out - self._single(-context, season).flip(-1)) / 2
        return out

    def forward(self, context: Tensor, season: Tensor | None = None) -> Tensor:
        """Raw context ``(batch, time[, 1])`` -> raw quantiles ``(batch, horizon, Q)``.

        A context with no variation (constant, all zero, or one observed point) gets a flat
        forecast at its value: there is nothing else to extrapolate from it.
        """
        if context.dim() == 3 and context.shape[-1] == 1:
            context = context[..., 0]
        if context.dim() != 2:
            self._prepare(context)  # raises the shape error
        context = context[:, -self.max_context :]
        out = self._averaged(context, season)
        if self.interval_scale != 1:
            median = out[..., self.quantiles.index(0.5)].unsqueeze(-1)
            out = median + self.interval_scale * (out - median)
        return out

    def _averaged(self, context: Tensor, season: Tensor | None) -> Tensor:
        """The level-by-level mean of the whole-context pass and its halvings (raw units)."""
        out = self._signed(context, season)
        if not self.context_halvings:
            return out
        # halve in whole patches of the padded width, so that a series gives the same passes
        # whatever batch it is in (batches group series by patch count)
        patches = -(-context.shape[1] // self.patch_size)
        passes = [out]
        for _ in range(self.context_halvings):
            patches //= 2
            if patches < 2:
                break
            recent = context[:, -patches * self.patch_size :]
            part = self._signed(recent, season)
            # a row with fewer than two observed points in the recent part keeps the whole pass
            enough = torch.isfinite(recent).sum(dim=1) >= 2
            passes.append(torch.where(enough[:, None, None], part, out))
        return torch.stack(passes).mean(dim=0)

    @torch.no_grad()
    def predict(self, context: Tensor, horizon: int, season: Tensor | None = None) -> Tensor:
        """Quantiles ``(batch, horizon, Q)`` for any ``horizon``: past the native one, the
        median is appended to the context and the model runs again."""
        horizon = positive_int(horizon, "horizon")
        median = min(range(len(self.quantiles)), key=lambda i: abs(self.quantiles[i] - 0.5))
        pieces: list[Tensor] = []
        done = 0
        while done < horizon:
            out = self.forward(context, season)
            pieces.append(out)
            done += self.horizon
            context = torch.cat([context[:, -self.max_context :], out[:, :, median]], dim=1)
        return torch.cat(pieces, dim=1)[:, :horizon]

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise NotSteppableError(
            "patch-forecaster scales each context as a whole, so it cannot carry state across "
            "chunks; call it (or seqzoo.forecast) on the whole context"
        )

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise NotSteppableError(
            "patch-forecaster scales each context as a whole, so it cannot run step by step; "
            "call it (or seqzoo.forecast) on the whole context"
        )
