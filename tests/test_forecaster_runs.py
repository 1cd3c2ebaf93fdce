"""``seqzoo predict`` / ``seqzoo evaluate`` on quantile forecasters, and their saved lineage.

The forecaster is a tiny zero-shot entry built by the real recipe (``build_zero_shot_entry``
with a few steps), fine-tuned for a few steps on a seasonal CSV series (``seqzoo.train(init=...)``),
so the run directory is exactly what ``seqzoo train --init`` writes. The commands run through
``seqzoo.cli.main`` in this process (its error handling included), which spares a torch import
per call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import numpy as np
import pytest
import torch
from conftest import build_tiny_forecaster

import seqzoo
from seqzoo.cli import main

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
ROWS, SEASON = 200, 12
TEST = (170, 200)  # the csv dataset's chronological split: the last 15% of 200 rows


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    monkeypatch.delenv("SEQZOO_DEBUG", raising=False)  # errors as users see them


@pytest.fixture
def seqzoo_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CompletedProcess[str]]:
    """``seqzoo ARGS`` in this process, answered like ``subprocess.run``."""

    def run(*args: str) -> CompletedProcess[str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        out, err = capsys.readouterr()
        return CompletedProcess(["seqzoo", *args], code, out, err)

    return run


def _values() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(ROWS, dtype=np.float64)
    return np.round(50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 1, ROWS), 6)


@pytest.fixture(scope="module")
def zoo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_forecaster(tmp_path_factory.mktemp("zoo"))[0]


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "series.csv"
    path.write_text("t,y\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(_values())))
    return path


@pytest.fixture(scope="module")
def run_dir(zoo_folder: Path, series_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("runs") / "finetuned"
    torch.set_num_threads(1)
    seqzoo.train(
        init=str(zoo_folder),
        dataset={"name": "csv", "path": str(series_csv), "target": "y", "season": SEASON},
        steps=4,
        batch_size=8,
        seed=0,
        quiet=True,
        run_dir=str(directory),
    )
    return directory


def _rows(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.strip().splitlines()
    return lines[0].split(","), np.array(
        [[float(v) for v in line.split(",")] for line in lines[1:]]
    )


def test_predict_on_a_fine_tuned_forecaster_run_prints_its_median_and_quantiles(
    run_dir: Path, seqzoo_cli: Callable[..., CompletedProcess[str]]
) -> None:
    result = seqzoo_cli("predict", str(run_dir), "--steps", "7")
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    header, rows = _rows(result.stdout)
    assert header == ["step", "y", *(f"y_{q:g}" for q in LEVELS)]
    assert rows.shape == (7, 11)
    assert rows[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(rows[:, 1], rows[:, 2 + LEVELS.index(0.5)])  # y is the median
    # the same forecast as the front door gives, from the end of the whole series
    model = seqzoo.from_pretrained(run_dir, device="cpu")
    expected = seqzoo.forecast(_values(), 7, model=model, season=SEASON)
    np.testing.assert_allclose(rows[:, 2:], expected.quantiles, rtol=2e-5, atol=1e-4)


def test_predict_with_a_zero_shot_folder_and_input_writes_the_quantiles(
    zoo_folder: Path,
    series_csv: Path,
    tmp_path: Path,
    seqzoo_cli: Callable[..., CompletedProcess[str]],
) -> None:
    out, png = tmp_path / "fc.csv", tmp_path / "fc.png"
    result = seqzoo_cli(
        "predict", str(zoo_folder), "--steps", "20", "--input", str(series_csv),
        "--output", str(out), "--plot", str(png),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote 20 forecast steps" in result.stdout and png.stat().st_size > 0
    header, rows = _rows(out.read_text())
    assert header[:2] == ["step", "y"] and len(header) == 11
    assert rows.shape == (20, 11)  # 20 steps: past the model's horizon of 16, rolled out
    assert np.isfinite(rows).all()
    # without --input a bundled zero-shot model has nothing to continue: one clear line
    bare = seqzoo_cli("predict", str(zoo_folder))
    assert bare.returncode == 2 and "pass --input CSV" in bare.stderr
    assert len(bare.stderr.strip().splitlines()) == 1


def test_evaluate_scores_a_fine_tuned_forecaster_on_its_held_out_test_split(
    run_dir: Path, seqzoo_cli: Callable[..., CompletedProcess[str]]
) -> None:
    result = seqzoo_cli("evaluate", str(run_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["task"] == "forecast"
    assert report["horizon"] == 16 and report["points"] == TEST[1] - TEST[0]
    assert set(report["model"]) >= {"mae", "rmse", "mase", "wql", "coverage_80"}
    assert 0.0 <= report["model"]["coverage_80"] <= 1.0
    assert set(report["baselines"]) == {"persistence", "seasonal_naive"}
    # recomputed here: forecasts from 170 and 186, each from everything before it
    values = _values()
    origins = [170, 186]
    truth = [values[t : min(t + 16, TEST[1])] for t in origins]
    persistence = np.concatenate(
        [np.abs(y - values[t - 1]) for t, y in zip(origins, truth, strict=True)]
    )
    assert report["baselines"]["persistence"]["mae"] == pytest.approx(persistence.mean())
    model = seqzoo.from_pretrained(run_dir, device="cpu")
    fc = seqzoo.forecast([values[:t] for t in origins], 16, model=model, season=SEASON)
    errors = np.concatenate([np.abs(y - m[: len(y)]) for y, m in zip(truth, fc.mean, strict=True)])
    assert report["model"]["mae"] == pytest.approx(errors.mean(), rel=1e-5)
    train = values[:140]
    scale = np.mean(np.abs(train[SEASON:] - train[:-SEASON]))
    assert report["model"]["mase"] == pytest.approx(errors.mean() / scale, rel=1e-5)
    y = np.concatenate(truth)
    q = np.concatenate([b[: len(t)] for t, b in zip(truth, fc.quantiles, strict=True)])
    inside = (y >= q[:, 0]) & (y <= q[:, -1])
    assert report["model"]["coverage_80"] == pytest.approx(inside.mean())
    table = seqzoo_cli("evaluate", str(run_dir))
    assert table.returncode == 0 and "wql" in table.stdout and "coverage_80" in table.stdout


def test_evaluate_on_a_saved_forecaster_folder_is_one_clear_line_and_exit_2(
    zoo_folder: Path, seqzoo_cli: Callable[..., CompletedProcess[str]]
) -> None:
    result = seqzoo_cli("evaluate", str(zoo_folder))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0]
    assert "seqzoo forecast" in lines[0] and "bench_forecast" in lines[0]


def test_save_pretrained_of_a_loaded_fine_tuned_model_keeps_fine_tuned_from(
    run_dir: Path, zoo_folder: Path, tmp_path: Path
) -> None:
    loaded = seqzoo.from_pretrained(run_dir, device="cpu")
    source = loaded.pretrained_config["fine_tuned_from"]
    assert source["path"] == str(zoo_folder.resolve())
    seqzoo.save_pretrained(loaded, tmp_path / "again")
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["seqzoo"]["fine_tuned_from"] == source
    card = (tmp_path / "again" / "README.md").read_text()
    assert f"Fine-tuned from {source['name']}" in card
    assert seqzoo.from_pretrained(tmp_path / "again").pretrained_config["fine_tuned_from"] == source
    # a description of one's own keeps the lineage sentence beside it
    seqzoo.save_pretrained(loaded, tmp_path / "mine", card={"description": "My forecaster."})
    mine = (tmp_path / "mine" / "README.md").read_text()
    assert "My forecaster." in mine and f"Fine-tuned from {source['name']}" in mine
    # a model that was not fine-tuned records no lineage
    seqzoo.save_pretrained(seqzoo.from_pretrained(zoo_folder), tmp_path / "plain")
    assert "fine_tuned_from" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "Fine-tuned from" not in (tmp_path / "plain" / "README.md").read_text()
