"""The built-in datasets plugin: registers each dataset by its ``"module:function"`` path.

Nothing here imports torch, numpy, scikit-learn or statsmodels; a dataset's module is imported
when it is first built, so ``seqzoo list datasets`` stays fast. ``defaults`` repeat every
keyword default of each factory (a test keeps them true); metadata: ``task``, ``source``,
``units``.
"""

from __future__ import annotations

from seqzoo.core.hookspecs import Register, hookimpl

SEQZOO_HOOK_API = 1

_PACKAGE = "seqzoo.plugins.datasets"
_SPLIT = {"validation": 0.15, "test": 0.15}


@hookimpl
def register_datasets(register: Register) -> None:
    """Register the built-in datasets."""
    register(
        "sine",
        f"{_PACKAGE}.synthetic:sine",
        description="Noisy sum of sines (seeded), windowed for forecasting",
        defaults={
            "length": 2000,
            "periods": [25.0, 50.0, 100.0],
            "noise": 0.1,
            "window": 50,
            "horizon": 1,
            "seed": 0,
            **_SPLIT,
        },
        task="forecast",
        source="synthetic",
        units="unitless",
    )
    register(
        "adding",
        f"{_PACKAGE}.synthetic:adding",
        description="Adding problem: sum the two marked values of a long sequence",
        defaults={"length": 50, "samples": 6000, "seed": 0, **_SPLIT},
        task="regression",
        source="synthetic",
        units="sum of two values in [0, 1]",
    )
    register(
        "copy",
        f"{_PACKAGE}.synthetic:copy_memory",
        description="Copy-memory task: recall symbols after a long blank delay (token ids)",
        defaults={"length": 10, "delay": 50, "alphabet": 8, "samples": 6000, "seed": 0, **_SPLIT},
        task="language-model",
        source="synthetic",
        units="token ids",
    )
    register(
        "regression",
        f"{_PACKAGE}.synthetic:regression",
        description="scikit-learn make_regression rows as length-1 sequences",
        defaults={"samples": 1000, "features": 8, "noise": 10.0, "seed": 0, **_SPLIT},
        task="regression",
        source="sklearn.datasets.make_regression",
        units="unitless",
    )
    register(
        "diabetes",
        f"{_PACKAGE}.real:diabetes",
        description="scikit-learn diabetes: disease progression from 10 measurements",
        defaults={"scale": True, "seed": 0, **_SPLIT},
        task="regression",
        source="sklearn.datasets.load_diabetes",
        units="disease progression",
    )
    for name, function, window, description, units in (
        ("sunspots", "sunspots", 22, "Yearly sunspot numbers 1700-2008", "sunspot number"),
        ("co2", "co2", 104, "Weekly Mauna Loa CO2 1958-2001, gaps interpolated", "ppm"),
        ("nile", "nile", 10, "Annual Nile flow at Aswan 1871-1970", "10^8 m^3"),
        (
            "elec-equip",
            "elec_equip",
            24,
            "Monthly euro-area electrical equipment turnover index from 1995",
            "turnover index",
        ),
    ):
        register(
            name,
            f"{_PACKAGE}.real:{function}",
            description=description,
            defaults={"window": window, "horizon": 1, **_SPLIT},
            task="forecast",
            source=f"statsmodels.datasets.{function}",
            units=units,
        )
    register(
        "text",
        f"{_PACKAGE}.text:text",
        description="Char- or word-level language modeling on a text file (default: Python docs)",
        defaults={
            "path": None,
            "level": "char",
            "seq_len": 64,
            "max_chars": 200_000,
            "vocab_size": 10_000,
            **_SPLIT,
        },
        task="language-model",
        source="file (default: pydoc_data.topics)",
        units="tokens",
    )
    register(
        "text-classification",
        f"{_PACKAGE}.text:text_classification",
        description="Classify the texts of a CSV file by a label column",
        defaults={
            "text_column": "text",
            "label_column": "label",
            "seq_len": 128,
            "level": "word",
            "vocab_size": 10_000,
            "seed": 0,
            **_SPLIT,
        },
        task="classification",
        source="file",
        units="class",
    )
    register(
        "csv",
        f"{_PACKAGE}.files:csv_series",
        description="Forecast target column(s) of a CSV time series",
        defaults={
            "time_column": None,
            "features": None,
            "window": 24,
            "horizon": 1,
            "season": None,
            "units": None,
            **_SPLIT,
        },
        task="forecast",
        source="file",
        units="as in the file",
    )
