"""The layouts of ``config.json``, read into one record.

The current layout (:data:`FORMAT_VERSION`) holds the model's constructor arguments at the top
level, which is what huggingface_hub's ``PyTorchModelHubMixin`` passes to ``__init__``, and
seqzoo's own data under :data:`SEQZOO_KEY`. Folders of older seqzoo versions keep ``"model"``,
``"config"``, ``"files"``, ... at the top level; a ``PyTorchModelHubMixin`` folder holds
constructor arguments only and names no architecture.
"""

from __future__ import annotations

from typing import Any

from seqzoo.core.errors import ConfigError, WeightsError

from .hub import CONFIG_NAME

__all__ = ["FORMAT_VERSION", "SEQZOO_KEY", "parse_config"]

#: The ``config.json`` layout ``save_pretrained`` writes (older folders have no number).
FORMAT_VERSION = 2
#: The key of ``config.json`` that holds seqzoo's own data; every other key is a constructor
#: argument.
SEQZOO_KEY = "seqzoo"


def parse_config(document: Any, where: str, architecture: str | None = None) -> dict[str, Any]:
    """One record for every ``config.json`` layout: ``{"model": registry name, "config":
    constructor arguments, "task", "preprocessing", "dataset", "files", ...}``.

    Layouts: the current one (constructor arguments at the top level, seqzoo's data under
    ``"seqzoo"``), the older one (``"model"``, ``"config"``, ... at the top level) and a
    ``PyTorchModelHubMixin`` folder (constructor arguments only), which needs
    ``architecture`` (the registry name to build it under). An ``architecture`` that
    contradicts the folder's own registry name is a :class:`ConfigError`.
    """
    if not isinstance(document, dict):
        raise WeightsError(f"{where}: {CONFIG_NAME} must hold a JSON object")
    if SEQZOO_KEY in document:
        own = document[SEQZOO_KEY]
        if not isinstance(own, dict) or not isinstance(own.get("model"), str):
            raise WeightsError(f"{where}: {CONFIG_NAME} has no registry name under 'seqzoo.model'")
        record = {k: v for k, v in own.items() if k != "version"}
        record["seqzoo_version"] = own.get("version")
        record["config"] = {k: v for k, v in document.items() if k != SEQZOO_KEY}
    elif isinstance(document.get("model"), str) and (
        # with architecture=, "model" alone may be a mixin model's own constructor argument
        architecture is None or isinstance(document.get("config"), dict)
    ):
        record = dict(document)  # the older layout: already a record
    elif architecture is not None:  # a PyTorchModelHubMixin folder: constructor args only
        record = {"model": architecture, "config": dict(document), "task": None}
    else:
        raise WeightsError(
            f"{where}: {CONFIG_NAME} has no 'seqzoo' section naming the architecture (a "
            "PyTorchModelHubMixin folder holds only constructor arguments); pass "
            "architecture='NAME' with the registry name to build it under (see `seqzoo list "
            "models`)"
        )
    if architecture is not None and record["model"] != architecture:
        raise ConfigError(
            f"{where} holds a {record['model']!r} model, not {architecture!r}; leave out "
            "architecture= (the folder names its own)",
            field="architecture",
        )
    if not isinstance(record.get("config", {}), dict):
        raise WeightsError(f"{where}: {CONFIG_NAME}'s 'config' must be a mapping")
    if not isinstance(record.get("files") or {}, dict):
        raise WeightsError(f"{where}: {CONFIG_NAME}'s 'files' must map file names to sha256")
    return record
