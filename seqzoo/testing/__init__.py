"""A conformance kit for plugin authors: checks that registered things keep seqzoo's contract.

Each check builds the named thing through the registry from a tiny config (the record's defaults
with sizes shrunk; keyword arguments on top), runs it, and raises ``AssertionError`` naming the
kind, the name, the plugin and the sub-check that failed. It returns a :class:`Report` of the
sub-checks that passed and of those skipped, with the reason (e.g. ONNX without onnxruntime)::

    from seqzoo.testing import check_model, parametrize_registered

    @parametrize_registered("model", plugin="seqzoo-tcn")
    def test_models(name):
        check_model(name)

Every check takes ``registry=`` (default: seqzoo's registry of the installed plugins) and
``skip_checks=`` (names of sub-checks to leave out, e.g. ``{"onnx"}``); other keyword
arguments are the config of the thing checked. A model or layer with required arguments that
have no obvious small value states a config for its checks in its record:
``register(name, factory, metadata={"example_config": {...}})``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._common import Report, registered_names
from ._components import check_layer, check_optimizer, check_schedule
from ._data import check_dataset, check_trainer, check_zoo_entry
from ._models import check_model, model_inputs

__all__ = [
    "Report",
    "check_dataset",
    "check_layer",
    "check_model",
    "check_optimizer",
    "check_schedule",
    "check_trainer",
    "check_zoo_entry",
    "model_inputs",
    "parametrize_registered",
    "registered_names",
]


if TYPE_CHECKING:
    import pytest


def parametrize_registered(
    kind: str, plugin: str | None = None, *, registry: Any = None
) -> pytest.MarkDecorator:
    """``@pytest.mark.parametrize("name", ...)`` over every registered ``kind`` (only
    ``plugin``'s, when given: its name, distribution or entry point), with the names as test
    ids. The names are read when the decorator runs, at collection: the plugin must be
    installed by then (or pass ``registry=``)."""
    import pytest  # only here: seqzoo.testing itself needs no pytest

    names = registered_names(kind, plugin, registry=registry)
    return pytest.mark.parametrize("name", names, ids=names)
