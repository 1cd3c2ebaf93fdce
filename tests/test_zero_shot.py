"""The zero-shot forecaster's parts: the synthetic corpus, the patch model, and the held-out
benchmark set (no benchmark series may be in the training corpus)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seqzoo
from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.plugins.datasets.corpus import (
    CorpusConfig,
    SyntheticCorpus,
    kernel_series,
    real_training_series,
    series_hash,
)
from seqzoo.plugins.models.patch_forecaster import season_bucket
from seqzoo.zoo.zeroshot import pinball_loss

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


def _corpus(seed: int = 0) -> SyntheticCorpus:
    return SyntheticCorpus(seed, CorpusConfig(kernel_pool=16, kernel_length=96))


# -- the corpus ----------------------------------------------------------------------------


def test_corpus_is_seeded_and_shaped() -> None:
    a, b = _corpus(3), _corpus(3)
    for context in (5, 40, 80):
        va, ha = a.batch(32, context, 16)
        vb, hb = b.batch(32, context, 16)
        assert va.shape == (32, context + 16) and va.dtype == np.float32
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(ha, hb)
        assert np.isfinite(va[:, context:]).all()  # targets are always observed
        assert np.isfinite(va[:, :context]).any(axis=1).all()  # and some of each context
    other, _ = _corpus(4).batch(32, 40, 16)
    assert not np.allclose(other, _corpus(3).batch(32, 40, 16)[0], equal_nan=True)


def test_every_generator_gives_finite_series_of_the_asked_length() -> None:
    corpus = _corpus()
    rng = np.random.default_rng(0)
    for name, generate in corpus.generators.items():
        values, hints = generate(rng, 24, 96)
        assert values.shape == (24, 96) and hints.shape == (24,), name
        if name != "real":  # real windows may be shorter than asked (NaN in front)
            assert np.isfinite(values).all(), name
            assert np.abs(values).max() < 1e12, name
        assert (hints >= 0).all(), name


def test_kernel_synth_draws_vary_and_are_smooth_or_periodic() -> None:
    rng = np.random.default_rng(1)
    draws = np.stack([kernel_series(rng, 64) for _ in range(20)])
    assert np.isfinite(draws).all()
    assert np.std(draws.std(axis=1)) > 0  # different kernels, different scales


def test_real_training_series_are_statsmodels_only() -> None:
    series = real_training_series()
    assert len(series) > 100  # macrodata columns, fertility by country, co2, sunspots, ...
    names = {name.split(".")[0] for name, _, _ in series}
    assert {"co2", "sunspots", "nile", "macrodata", "fertility"} <= names


def _benchmark_series() -> dict[str, np.ndarray]:
    with gzip.open(BENCHMARK / "series.csv.gz", "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    header = lines[0].split(",")
    uid, y = header.index("unique_id"), header.index("y")
    found: dict[str, list[float]] = {}
    for line in lines[1:]:
        cells = line.split(",")
        found.setdefault(cells[uid], []).append(float(cells[y]))
    return {k: np.array(v) for k, v in found.items()}


def test_no_benchmark_series_is_in_the_training_corpus() -> None:
    benchmark = _benchmark_series()
    meta = json.loads((BENCHMARK / "series_meta.json").read_text(encoding="utf-8"))
    records = {record["unique_id"]: record for record in meta["series"]}
    assert len(benchmark) >= 150
    # the recorded hashes are the hashes of the shipped values
    for uid, values in benchmark.items():
        assert records[uid]["sha256"] == series_hash(values), uid
    training = real_training_series()
    assert not {series_hash(v) for _, v, _ in training} & {
        series_hash(v) for v in benchmark.values()
    }

    # stronger: no run of 12 benchmark values (to 1e-6) occurs anywhere in a training series
    def runs(values: np.ndarray, width: int = 12) -> set[bytes]:
        rounded = np.round(values, 6) + 0.0
        return {rounded[i : i + width].tobytes() for i in range(len(rounded) - width + 1)}

    seen: set[bytes] = set()
    for _, values, _ in training:
        seen |= runs(values)
    leaked = [uid for uid, values in benchmark.items() if runs(values) & seen]
    assert not leaked, f"benchmark series found in the training corpus: {leaked[:5]}"


# -- the model -----------------------------------------------------------------------------


def _tiny(**overrides: object) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {
        "patch_size": 4,
        "d_model": 8,
        "hidden_size": 8,
        "num_layers": 1,
        "horizon": 6,
        "max_context": 16,
    }
    return seqzoo.create_model("patch-forecaster", **{**config, **overrides}).eval()


def test_patch_forecaster_shapes_and_sorted_quantiles() -> None:
    model = _tiny()
    context = torch.randn(3, 10)
    out = model(context)
    assert out.shape == (3, 6, 9)
    assert (out.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(model(context[..., None]), out)  # (batch, time, 1) works too
    assert model.predict(context, 15).shape == (3, 15, 9)
    torch.testing.assert_close(model.predict(context, 6), out)


def test_patch_forecaster_scaling_and_missing_values() -> None:
    model = _tiny()
    context = torch.randn(2, 12, dtype=torch.float64)
    model = model.double()
    torch.testing.assert_close(
        model(context * 1000 + 5), model(context) * 1000 + 5, rtol=1e-9, atol=1e-6
    )
    with_holes = context.clone()
    with_holes[0, 3] = float("nan")
    assert torch.isfinite(model(with_holes)).all()
    # a context is left-padded with NaN to whole patches: explicit padding changes nothing
    padded = torch.cat([torch.full((2, 2), float("nan"), dtype=torch.float64), context[:, 2:]], 1)
    torch.testing.assert_close(model(padded), model(context[:, 2:]))


def test_patch_forecaster_season_hint_and_pinball() -> None:
    model = _tiny()
    assert [season_bucket(s) for s in (None, 0, 1, 4, 7, 12, 24, 52, 365)] == [
        0,
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    q, loc, scale = model.forward_scaled(torch.randn(2, 8), torch.tensor([4, 0]))
    assert q.shape == (2, 6, 9) and loc.shape == scale.shape == (2, 1)
    levels = torch.tensor(model.quantiles)
    target = torch.zeros(2, 6)
    assert pinball_loss(torch.zeros(2, 6, 9), target, levels) == 0
    # the pinball loss of a constant guess c at level q is q*(y-c) above and (1-q)*(c-y) below
    assert torch.isclose(
        pinball_loss(torch.ones(1, 1, 1), torch.zeros(1, 1), torch.tensor([0.1])), torch.tensor(0.9)
    )


def test_negated_average_is_exactly_sign_equivariant() -> None:
    plain = _tiny().double()
    both = _tiny(average_negated=True).double()
    both.load_state_dict(plain.state_dict())
    context = torch.randn(3, 11, dtype=torch.float64).cumsum(1)
    out = both(context)
    torch.testing.assert_close(out, (plain(context) - plain(-context).flip(-1)) / 2)
    # forecasting -x gives -forecast(x) with the levels mirrored, and quantiles stay sorted
    torch.testing.assert_close(both(-context), -out.flip(-1))
    assert (out.diff(dim=-1) >= 0).all()
    flat = both(torch.full((1, 9), 7.0, dtype=torch.float64))
    assert torch.all(flat == 7.0)


def test_context_halvings_average_whole_patch_crops() -> None:
    plain = _tiny().double()
    halved = _tiny(context_halvings=3).double()
    halved.load_state_dict(plain.state_dict())
    context = torch.randn(2, 16, dtype=torch.float64)
    # 16 points = 4 patches of 4: passes over 4 and 2 patches (1 patch is too few)
    expected = (plain(context) + plain(context[:, -8:])) / 2
    torch.testing.assert_close(halved(context), expected)
    # crops are taken in whole patches of the padded width, so a series' forecast does not
    # depend on the longer series it is batched with
    short = context[1:, 3:]  # 13 points: padded to 4 patches, like the 16-point row
    nan = torch.full((1, 3), float("nan"), dtype=torch.float64)
    batch = torch.cat([context[:1], torch.cat([nan, short], 1)])
    torch.testing.assert_close(halved(short), halved(batch)[1:])
    # a row whose recent part has fewer than two observed points keeps its whole-context pass
    gappy = context.clone()
    gappy[0, -8:] = float("nan")
    torch.testing.assert_close(halved(gappy)[0], plain(gappy)[0])


def test_interval_scale_stretches_quantiles_around_the_median() -> None:
    plain = _tiny().double()
    wide = _tiny(interval_scale=1.25).double()
    wide.load_state_dict(plain.state_dict())
    context = torch.randn(3, 13, dtype=torch.float64).cumsum(1)
    base, out = plain(context), wide(context)
    median = base[..., 4:5]
    torch.testing.assert_close(out, median + 1.25 * (base - median))
    torch.testing.assert_close(out[..., 4], base[..., 4])  # the point forecast is unchanged
    assert (out.diff(dim=-1) >= 0).all()
    # rolled out past the native horizon, the median fed back is the same, so it stays exact
    long_base, long_out = plain.predict(context, 15), wide.predict(context, 15)
    torch.testing.assert_close(
        long_out, long_base[..., 4:5] + 1.25 * (long_base - long_base[..., 4:5])
    )
    flat = wide(torch.full((1, 9), 7.0, dtype=torch.float64))
    assert torch.all(flat == 7.0)


def test_bfloat16_inference_stays_close_to_float32_and_training_stays_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from seqzoo.plugins.models import patch_forecaster

    torch.manual_seed(0)
    plain = _tiny().eval()
    fast = _tiny(inference_dtype="bfloat16").eval()
    fast.load_state_dict(plain.state_dict())
    context = 50 + 10 * torch.randn(4, 40).cumsum(1)
    with torch.no_grad():
        exact, approx = plain(context), fast(context)
    assert approx.dtype == torch.float32 and approx.shape == exact.shape
    rtol, atol = fast.reference_tolerance
    assert (rtol, atol) > plain.reference_tolerance  # it says it is approximate
    torch.testing.assert_close(approx, exact, rtol=rtol, atol=atol)
    if patch_forecaster._fast_bfloat16(torch.device("cpu")):
        assert not torch.equal(approx, exact)  # it did run in bfloat16
    # training ignores it: gradients and the loss are float32, equal to the plain model's
    fast.train(), plain.train()
    loss_fast = fast.forward_scaled(context)[0].square().mean()
    loss_plain = plain.forward_scaled(context)[0].square().mean()
    assert torch.equal(loss_fast, loss_plain)
    # a device without fast bfloat16 kernels runs float32, exactly
    monkeypatch.setattr(patch_forecaster, "_fast_bfloat16", lambda device: False)
    fast.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(context), plain(context), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="inference_dtype must be one of float32, bfloat16"):
        _tiny(inference_dtype="float16")


def test_patch_forecaster_refuses_what_it_cannot_do() -> None:
    model = _tiny()
    with pytest.raises(NotSteppableError, match="whole context"):
        model.step(torch.randn(2, 1))
    with pytest.raises(ShapeError, match=r"\(batch, time\)"):
        model(torch.randn(2, 3, 4))
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        _tiny(max_context=18)
    with pytest.raises(ConfigError, match="quantiles"):
        _tiny(quantiles=[0.5, 0.1])
    with pytest.raises(ConfigError, match="one series at a time"):
        _tiny(input_size=3)
    with pytest.raises(ConfigError, match="symmetric around 0.5"):
        _tiny(quantiles=[0.1, 0.5, 0.8], average_negated=True)
    with pytest.raises(ConfigError, match="context_halvings"):
        _tiny(context_halvings=-1)
    for bad in (0, -1.0, float("nan"), float("inf"), "1.1", True):
        with pytest.raises(ConfigError, match="interval_scale must be a finite number"):
            _tiny(interval_scale=bad)
    with pytest.raises(ConfigError, match="must include 0.5"):
        _tiny(quantiles=[0.1, 0.9], interval_scale=1.1)


def test_patch_layers_are_registered_and_compose() -> None:
    hybrid = seqzoo.compose(
        [
            {"layer": "patch-embedding", "patch_size": 4, "out_features": 8},
            {"layer": "lstm", "hidden_size": 8},
            {"layer": "last"},
            {"layer": "residual-mlp", "out_features": 3},
        ],
        input_size=2,
    )
    out = hybrid(torch.randn(5, 16, 2))
    assert out.shape == (5, 3)
