"""The ``seqzoo`` command, run as a user runs it: in a subprocess, with real installed plugins."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, run_seqzoo

BUILTIN_MODELS = ["conv-recurrent", "embedding-lstm", "gru", "linear", "lstm", "rnn"]

BROKEN = """
raise RuntimeError("this plugin is broken on purpose")
"""

DUPLICATE = """
import seqzoo
SEQZOO_HOOK_API = 1

@seqzoo.hookimpl
def register_models(register):
    register("lstm", "seqzoo_dup:make", description="Another LSTM.")

def make():
    return None
"""


def test_list_models_shows_the_builtins_with_their_plugin() -> None:
    result = run_seqzoo("list", "models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "PLUGIN", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in lines[1:]}
    for name in BUILTIN_MODELS:
        assert "seqzoo 0.1.0" in rows[name]
    assert result.stderr == ""


def test_list_filters_with_a_wildcard() -> None:
    result = run_seqzoo("list", "models", "*lstm*")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names == ["embedding-lstm", "lstm"]
    every_kind = run_seqzoo("list", "*lstm*", "--json")
    found = {(item["kind"], item["name"]) for item in json.loads(every_kind.stdout)}
    assert {("model", "lstm"), ("layer", "lstm"), ("model", "embedding-lstm")} <= found


def test_info_shows_the_record() -> None:
    result = run_seqzoo("info", "lstm", "--kind", "model")
    assert result.returncode == 0, result.stderr
    assert "lstm (model)" in result.stdout
    assert "seqzoo.plugins.models.recurrent:RecurrentModel" in result.stdout
    assert 'cell = "lstm"' in result.stdout
    both = run_seqzoo("info", "lstm")
    assert "lstm (model)" in both.stdout and "lstm (layer)" in both.stdout


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("info", "lstmm"), "'lstm'"),
        (("info", "lstmm", "--kind", "model"), "'lstm'"),
        (("list", "modles"), "'models'"),
    ],
)
def test_unknown_names_exit_2_with_a_suggestion(args: tuple[str, ...], suggestion: str) -> None:
    result = run_seqzoo(*args)
    assert result.returncode == 2
    assert "did you mean" in result.stderr and suggestion in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [("--help",), ("list", "models"), ("list", "models", "*lstm*"), ("info", "lstm"), ("plugins",)],
)
def test_listing_commands_do_not_import_torch(args: tuple[str, ...]) -> None:
    script = (
        "import sys\n"
        "from seqzoo.cli import main\n"
        f"sys.argv = ['seqzoo', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'sklearn', 'safetensors') if m in sys.modules)\n"
        "print('HEAVY:', heavy, file=sys.stderr)\n"
    )
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stderr


def test_a_broken_plugin_is_shown_and_the_builtins_keep_working(make_distribution) -> None:
    site = make_distribution(
        distribution="seqzoo-broken", version="0.3.0", module="seqzoo_broken", source=BROKEN
    )
    listing = run_seqzoo("list", "models", paths=(site,))
    assert listing.returncode == 0, listing.stderr
    for name in BUILTIN_MODELS:
        assert name in listing.stdout
    assert "warning: plugin 'seqzoo-broken:seqzoo_broken'" in listing.stderr
    assert "this plugin is broken on purpose" in listing.stderr

    shown = run_seqzoo("plugins", paths=(site,))
    assert shown.returncode == 0
    (row,) = [line for line in shown.stdout.splitlines() if line.startswith("seqzoo-broken:")]
    assert "seqzoo-broken 0.3.0" in row
    assert "FAILED" in row and "this plugin is broken on purpose" in row
    records = json.loads(run_seqzoo("plugins", "--json", paths=(site,)).stdout)
    broken = next(r for r in records if r["entry_point"] == "seqzoo_broken")
    assert broken["version"] == "0.3.0" and "RuntimeError" in broken["error"]

    strict = run_seqzoo("list", "models", paths=(site,), env={"SEQZOO_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "seqzoo-broken" in strict.stderr and "strict" in strict.stderr
    # strict mode shows the plugin's own traceback, then the one-line error
    assert "Traceback" in strict.stderr and 'raise RuntimeError("this plugin' in strict.stderr
    assert strict.stderr.strip().splitlines()[-1].startswith("error: ")

    skipped = run_seqzoo("plugins", paths=(site,), env={"SEQZOO_LOAD_PLUGINS": "none"})
    assert "seqzoo_broken" not in skipped.stdout


def test_two_plugins_registering_lstm_fails_the_later_naming_both(make_distribution) -> None:
    site = make_distribution(
        distribution="seqzoo-dup", version="1.0.0", module="seqzoo_dup", source=DUPLICATE
    )
    result = run_seqzoo("list", "models", paths=(site,), env={"SEQZOO_STRICT_PLUGINS": "1"})
    assert result.returncode == 2
    assert "model 'lstm' is registered by two plugins" in result.stderr
    assert "seqzoo 0.1.0" in result.stderr and "seqzoo-dup 1.0.0" in result.stderr
    assert "Traceback" not in result.stderr


# -- seqzoo predict over many series ----------------------------------------------------------


def _walk(rng: object, n: int) -> list[float]:
    import numpy as np

    assert isinstance(rng, np.random.Generator)
    return (50 + np.cumsum(rng.normal(0, 6, size=n))).round(3).tolist()


def test_predict_a_long_csv_writes_one_forecast_per_series(tmp_path) -> None:
    import csv

    import numpy as np

    import seqzoo
    from seqzoo.core.predict import forecast

    rng = np.random.default_rng(0)
    series = {"north": _walk(rng, 40), "south, east": _walk(rng, 25)}  # ragged; a quoted id
    rows = [(key, t, v) for key, values in series.items() for t, v in enumerate(values)]
    rows = [rows[i] for i in rng.permutation(len(rows))]  # any row order: sorted by time
    source = tmp_path / "long.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unique_id", "ds", "y"])
        writer.writerows(rows)
    out = tmp_path / "out" / "forecast.csv"
    done = run_seqzoo(
        "predict", "lstm-sunspots", "--steps", "4", "--input", str(source), "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "for each of 2 series" in done.stdout
    written = list(csv.DictReader(out.open()))
    assert [(r["unique_id"], int(r["step"])) for r in written] == [
        (key, step) for key in series for step in range(1, 5)
    ]
    model = seqzoo.from_pretrained("lstm-sunspots", device="cpu")
    expected = forecast(model, model.preprocessing, [np.asarray(v) for v in series.values()], 4)
    got = np.asarray([float(r["sunactivity"]) for r in written]).reshape(2, 4)
    np.testing.assert_allclose(got, expected[:, :, 0], rtol=1e-4)


def test_predict_a_wide_csv_and_its_errors(tmp_path) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    a, b = _walk(rng, 30), _walk(rng, 30)
    wide = tmp_path / "wide.csv"
    lines = ["month,a,b"] + [
        f"{t},{x},{'' if t < 3 else y}" for t, (x, y) in enumerate(zip(a, b, strict=True))
    ]
    wide.write_text("\n".join(lines) + "\n")
    done = run_seqzoo(
        "predict", "lstm-sunspots", "--steps", "2", "--input", str(wide), "--time-col", "month"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "unique_id,step,sunactivity"
    assert [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == ["a", "a", "b", "b"]

    out = tmp_path / "never.csv"
    bad_time = run_seqzoo(
        "predict", "lstm-sunspots", "--input", str(wide), "--time-col", "week", "--output", str(out)
    )
    assert bad_time.returncode == 2 and "no column 'week'" in bad_time.stderr
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:26]) + "\n")  # b: 22 observed rows; a: 25
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("\n".join(lines[:24]) + "\n")  # b: 20 observed rows
    assert (
        run_seqzoo(
            "predict", "lstm-sunspots", "--input", str(short), "--time-col", "month"
        ).returncode
        == 0
    )
    too_short = run_seqzoo(
        "predict",
        "lstm-sunspots",
        "--input",
        str(shorter),
        "--time-col",
        "month",
        "--output",
        str(out),
    )
    assert too_short.returncode == 2
    assert (
        "series 'b' has 20 observed row(s)" in too_short.stderr
        and "window of 22" in too_short.stderr
    )
    text = tmp_path / "text.csv"
    text.write_text("\n".join([*lines[:-1], "29,oops,1"]) + "\n")
    not_number = run_seqzoo("predict", "lstm-sunspots", "--input", str(text), "--output", str(out))
    assert (
        not_number.returncode == 2 and "'oops'" in not_number.stderr and "'a'" in not_number.stderr
    )
    long = tmp_path / "long.csv"
    long.write_text(
        "unique_id,ds,value\n" + "\n".join(f"s,{t},{v}" for t, v in enumerate(a)) + "\n"
    )
    no_target = run_seqzoo("predict", "lstm-sunspots", "--input", str(long), "--output", str(out))
    assert no_target.returncode == 2 and "'y'" in no_target.stderr and "'value'" in no_target.stderr
    repeated = tmp_path / "repeated.csv"
    repeated.write_text(
        "unique_id,ds,y\n" + "\n".join(f"s,{t // 2},{v}" for t, v in enumerate(a)) + "\n"
    )
    twice = run_seqzoo("predict", "lstm-sunspots", "--input", str(repeated), "--output", str(out))
    assert twice.returncode == 2 and "repeats the time" in twice.stderr
    assert not out.exists()  # no error wrote anything
    for result in (bad_time, too_short, not_number, no_target, twice):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
