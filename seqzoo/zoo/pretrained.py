"""Save and load pretrained models.

A saved model is a directory (locally, or a Hub repository) holding:

- ``config.json``: the constructor arguments at the top level (what huggingface_hub's
  ``PyTorchModelHubMixin`` passes to ``__init__``), and seqzoo's own data under ``"seqzoo"``:
  ``{"format": 2, "version", "model": registry name, "class": "module:Class", "task",
  "preprocessing": scalers/window/names or null, "dataset", "files": {name: sha256}}``, plus
  ``"fine_tuned_from"`` for a fine-tuned model (its lineage, kept when a loaded fine-tuned
  model is saved again). Older folders (``"model"``, ``"config"``, ... at the top level) load
  unchanged, and a plain ``PyTorchModelHubMixin`` folder loads with ``architecture=NAME``
- ``model.safetensors``: the weights (shared tensors stored once)
- ``tokenizer.json``: the Hugging Face ``tokenizers`` tokenizer, for text models
- ``README.md``: the model card

Only safetensors are read: nothing is ever unpickled (a pickle can run arbitrary code while it
loads), and a directory or repository that holds only pickle weights is refused.

Loading checks every file's sha256, then builds the model on the meta device (shapes only) and
makes the file's tensors its parameters (:mod:`seqzoo.zoo.attach`), so no weight is
random-initialised only to be overwritten; a model that cannot be built that way is built
normally and the weights copied in. A tensor stored as another kind of number than the model's
(integers for floats) is refused. A repeated load of an unchanged folder costs a few stats: its
listing, ``config.json`` and digests are remembered by the files' identity
(:mod:`seqzoo.zoo.folder`, :mod:`seqzoo.zoo.digests`).

Saving writes the whole folder beside the target and swaps it in
(:func:`seqzoo.core.files.staged_directory`): a save killed at any moment leaves the old model
or the new one, and loading finishes a swap that a kill interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from seqzoo import __version__
from seqzoo.core.device import resolve_device, resolve_dtype
from seqzoo.core.errors import ConfigError, SeqzooError, UnknownNameError, WeightsError
from seqzoo.core.files import io_errors, os_error_in, recover_directory, staged_directory
from seqzoo.core.predict import LAST_WINDOW_NAME

from .attach import assign_weights as _assign_weights
from .attach import key_mismatch as _key_mismatch
from .attach import unmaterialised as _unmaterialised  # noqa: F401  # importable here, as before
from .attach import unreadable as _unreadable
from .card import render_card
from .digests import verified_sha256s
from .dtypes import check_dtypes, stored_dtypes
from .folder import Listing, read_bytes, read_listing
from .hub import (
    CARD_NAME,
    CONFIG_NAME,
    TOKENIZER_NAME,
    WEIGHTS_NAME,
    check_model_files,
    file_sha256,
    member_file,
)
from .layout import FORMAT_VERSION, SEQZOO_KEY, parse_config
from .saved import default_registry as _registry
from .saved import lineage_card as _lineage_card
from .saved import plain_config as _plain_config
from .saved import registry_name_of
from .sources import locate

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FILES",
    "SEQZOO_KEY",
    "from_pretrained",
    "load_directory",
    "parse_config",
    "registry_name_of",
    "save_pretrained",
    "write_pretrained",
]


# -- saving -----------------------------------------------------------------------------------


#: Files of a saved model's format: a save replaces them all, even those the new model does
#: not write (the tokenizer of an earlier text model); other files of the folder are kept.
MODEL_FILES = (CONFIG_NAME, WEIGHTS_NAME, TOKENIZER_NAME, CARD_NAME, LAST_WINDOW_NAME)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    """``safetensors.torch.save_model``, its I/O failures raised as the OSError they are."""
    from safetensors import SafetensorError
    from safetensors.torch import save_model

    try:
        # save_model stores shared (tied) tensors once; load_model ties them back
        save_model(model, str(path), metadata={"format": "pt"}, force_contiguous=True)
    except SafetensorError as exc:  # its Rust I/O errors carry the errno only in the message
        error = os_error_in(exc)
        if error is None:
            raise
        error.filename = str(path)
        raise error from exc


@dataclasses.dataclass
class _Saved:
    """What :func:`save_pretrained` writes, checked before any file is touched."""

    model: torch.nn.Module
    name: str
    config: dict[str, Any]
    task: str | None
    preprocessing: Any
    dataset: Mapping[str, Any] | None
    source: dict[str, Any] | None
    card: Mapping[str, Any] | None


def _prepare(
    model: torch.nn.Module,
    name: str | None,
    preprocessing: Any,
    task: str | None,
    card: Mapping[str, Any] | None,
    dataset: Mapping[str, Any] | None,
    registry: Any,
) -> _Saved:
    registry = _registry(registry)
    config = _plain_config(model)
    if SEQZOO_KEY in config:
        raise ConfigError(
            f"a constructor argument named {SEQZOO_KEY!r} clashes with config.json's own "
            "section; rename the argument",
            field="config",
        )
    name = name or registry_name_of(model, registry)
    registry.get("model", name)  # an unknown name fails now, with suggestions, not on load
    pretrained = getattr(model, "pretrained_config", None) or {}
    if preprocessing is None:
        preprocessing = getattr(model, "preprocessing", None)
    if task is None:
        task = pretrained.get("task")
    if dataset is None:
        dataset = pretrained.get("dataset")
    source = pretrained.get("fine_tuned_from")
    if isinstance(source, Mapping) and source:
        source, card = _lineage_card(source, card, dataset)
    else:
        source = None
    if preprocessing is not None and not hasattr(preprocessing, "to_dict"):
        raise ConfigError(
            "preprocessing must be a seqzoo Preprocessing (with to_dict)", field="preprocessing"
        )
    return _Saved(model, name, config, task, preprocessing, dataset, source, card)


def _write(saved: _Saved, directory: Path) -> None:
    """Write the model's files into the (empty) ``directory``; config.json records the
    sha256 of the weights and tokenizer."""
    tokenizer = getattr(saved.preprocessing, "tokenizer", None)
    _save_weights(saved.model, directory / WEIGHTS_NAME)
    written = [WEIGHTS_NAME]
    if tokenizer is not None:
        tokenizer.save(str(directory / TOKENIZER_NAME))
        written.append(TOKENIZER_NAME)
    files = {n: file_sha256(directory / n) for n in written}
    preprocessing = saved.preprocessing.to_dict() if saved.preprocessing is not None else None
    cls = type(saved.model)
    own: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "version": __version__,
        "model": saved.name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "task": saved.task,
        "preprocessing": preprocessing,
        "dataset": dict(saved.dataset) if saved.dataset else None,
        "files": files,
    }
    if saved.source is not None:
        own["fine_tuned_from"] = saved.source
    # constructor arguments flat at the top level, as PyTorchModelHubMixin reads them
    document = {**saved.config, SEQZOO_KEY: own}
    _write_text(directory / CONFIG_NAME, json.dumps(document, indent=2) + "\n")
    text = render_card(
        name=saved.name,
        config=saved.config,
        task=saved.task,
        card=saved.card,
        preprocessing=preprocessing,
        has_tokenizer=tokenizer is not None,
        files=files,
    )
    _write_text(directory / CARD_NAME, text)


def save_pretrained(
    model: torch.nn.Module,
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    preprocessing: Any = None,
    task: str | None = None,
    card: Mapping[str, Any] | None = None,
    dataset: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> Path:
    """Save ``model`` as a loadable directory: config.json, model.safetensors, tokenizer.json
    (when ``preprocessing.tokenizer`` is set) and a README.md model card.

    ``name`` is the registry name to rebuild it under (default: the model's own
    ``registry_name``). ``preprocessing`` and ``task`` default to those of a model loaded with
    :func:`from_pretrained`. ``card`` may hold ``description``, ``dataset``, ``metrics``,
    ``baselines`` (name -> metrics), ``training`` (``command``, ``epochs``, ...), ``license``
    and ``repo_id``. ``dataset`` (``{"name": ..., **config}``) records the registered dataset it
    was trained on, so ``seqzoo predict`` can continue that series. A model whose
    ``pretrained_config`` holds ``fine_tuned_from`` (one loaded from a fine-tuned folder, or a
    fine-tuning run's model) keeps it in config.json, and its card says "Fine-tuned from NAME".

    The new folder is written beside the target and swapped in whole
    (:func:`seqzoo.core.files.staged_directory`): a crash or kill at any moment leaves the
    old model or the new one, never a mix. The folder's other files (a git checkout, notes)
    are kept; :data:`MODEL_FILES` the new model does not write are removed. A full disk or a
    read-only file system is a :class:`~seqzoo.core.errors.StorageError` (the old model is
    kept). Returns the directory.
    """
    saved = _prepare(model, name, preprocessing, task, card, dataset, registry)
    target = Path(directory).expanduser()
    with io_errors(target, "save the model to", "nothing was written"):
        occupied = target.exists() and not target.is_dir()  # (a name too long fails here)
    if occupied:
        raise ConfigError(f"{str(target)!r} exists and is not a directory")
    with staged_directory(
        target, replaces=MODEL_FILES, last=CONFIG_NAME, action="save the model to"
    ) as staging:
        _write(saved, staging)
    return target


def write_pretrained(
    model: torch.nn.Module,
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    preprocessing: Any = None,
    task: str | None = None,
    card: Mapping[str, Any] | None = None,
    dataset: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> Path:
    """:func:`save_pretrained`'s files, written straight into the existing empty
    ``directory``: for a caller that stages a folder itself
    (:func:`seqzoo.core.files.staged_directory`) to add files of its own before the swap.
    An :class:`OSError` propagates (the staged folder maps it, naming its target)."""
    saved = _prepare(model, name, preprocessing, task, card, dataset, registry)
    _write(saved, Path(directory))
    return Path(directory)


# -- loading ----------------------------------------------------------------------------------


def _read_config(path: Path, where: str, architecture: str | None = None) -> dict[str, Any]:
    """``config.json`` as the record :func:`parse_config` makes of it."""
    try:
        document = json.loads(read_bytes(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{where}: {CONFIG_NAME} cannot be read as JSON ({exc})") from None
    except RecursionError:  # json recurses once per nesting level
        raise WeightsError(f"{where}: {CONFIG_NAME} nests too deeply to be a config") from None
    return parse_config(document, where, architecture)


def _listing(directory: Path, where: str, info: os.stat_result | None = None) -> Listing:
    """The entries of the model folder (:func:`~seqzoo.zoo.folder.read_listing`)."""
    return read_listing(directory, where, info)


def _plain(listing: Listing, name: Any) -> bool:
    """Whether ``name``, one of the format's own file names (valid names by construction), is
    a plain file of the folder's listing: no further look needed (a link or special file is
    for :func:`member_file` to judge)."""
    return name in MODEL_FILES and name in listing.plain


def _check_own_files(directory: Path, where: str, listing: Listing) -> None:
    """The format's own files: a link out or a FIFO in their place is refused unopened."""
    for name in MODEL_FILES:
        if name in listing.names and name not in listing.plain:
            member_file(directory, name, where, "the seqzoo model format")


def _verify(
    directory: Path,
    checksums: list[tuple[str, str, str]],
    where: str,
    listing: Listing | None = None,
) -> None:
    """Check each ``(file, sha256, who recorded it)``; a mismatch names the file.
    ``listing`` (the folder's entries, just read) spares a look at each plain file."""
    paths: dict[str, Path] = {}
    for name, _, source in checksums:
        if listing is not None and _plain(listing, name):
            path = directory / name
        else:
            path = member_file(directory, name, where, source)
            if not path.is_file():
                raise WeightsError(f"{where}: {name} is listed in {source} but missing")
        paths.setdefault(name, path)
    try:
        digests = verified_sha256s(list(paths.values()))
    except FileNotFoundError:  # gone since the listing: a save swapping the folder
        if listing is None:
            raise
        return _verify(directory, checksums, where)
    seen = dict(zip(paths, digests, strict=True))
    for name, expected, source in checksums:
        if seen[name] != str(expected).lower():
            raise WeightsError(
                f"{where}: checksum mismatch for {name}: {source} records sha256 {expected}, "
                f"the file has {seen[name]}; the file is corrupt or was changed (download it "
                "again, e.g. after clearing it from the Hub cache, or save the model again)"
            )


#: Whether a model factory takes ``registry=`` (computed once per factory).
_TAKES_REGISTRY: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _takes_registry(factory: Any) -> bool:
    try:
        return _TAKES_REGISTRY[factory]
    except (KeyError, TypeError):  # not seen yet, or cannot be weakly referenced
        pass
    try:
        takes = "registry" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes = False
    with contextlib.suppress(TypeError):
        _TAKES_REGISTRY[factory] = takes
    return takes


def _constructor(config: dict[str, Any], registry: Any, where: str) -> Callable[[], Any]:
    """A no-argument callable that builds the model ``config.json`` describes."""
    name = config["model"]
    try:
        spec = registry.get("model", name)
    except UnknownNameError as exc:
        exc.args = (f"{exc}; {where} needs it: install the plugin that provides {name!r}",)
        raise
    arguments = dict(config.get("config") or {})
    if "registry" not in arguments and _takes_registry(spec.load()):
        arguments["registry"] = registry  # hybrids find their layers in the caller's registry
    return lambda: spec.create(**arguments)


def _cuda_index(device: torch.device) -> str:
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def _load_weights(
    model: torch.nn.Module, path: Path, device: torch.device, strict: bool, where: str
) -> None:
    """Copy ``path``'s tensors into the parameters of a model built normally (on ``device``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    check_dtypes(stored_dtypes(path, where), model.state_dict(), path, where)
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=_cuda_index(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, where, exc) from None
    except RuntimeError as exc:  # size mismatches between the file and the built model
        raise WeightsError(
            f"{where}: {path.name} does not fit the model built from {CONFIG_NAME}: {exc}"
        ) from None
    if strict:
        _key_mismatch(path, where, missing, unexpected)


def _build_and_load(
    make: Callable[[], Any], path: Path, device: torch.device, strict: bool, where: str
) -> Any:
    """The model ``make`` builds, holding ``path``'s weights on ``device``.

    It is built on the meta device (shapes only: no memory, no random initialisation) and the
    file's tensors become its parameters. A model that cannot be built there (its constructor
    computes with tensor values) or that keeps tensors the file does not hold is built
    normally on ``device`` and the weights are copied in.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        with torch.device("meta"):
            model = make()
    except SeqzooError:
        raise  # a bad config: building normally would fail the same way
    except Exception:  # e.g. a constructor that reads tensor values, impossible on meta
        model = None
    if model is not None:
        try:
            state = load_file(str(path), device=_cuda_index(device))
        except (SafetensorError, OSError, ValueError) as exc:
            raise _unreadable(path, where, exc) from None
        if _assign_weights(model, state, strict, path, where):
            return model
    # parameters are created on the target device, not on the CPU and then copied
    with device:
        model = make()
    _load_weights(model, path, device, strict, where)
    return model


def _load_tokenizer(path: Path, where: str) -> Any:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises its own exception types
        raise WeightsError(f"{where}: {path.name} cannot be read as a tokenizer ({exc})") from None


def load_directory(
    directory: str | os.PathLike[str],
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = None,
    strict: bool = True,
    registry: Any = None,
    expected_files: Mapping[str, str] | None = None,
    where: str | None = None,
    architecture: str | None = None,
) -> Any:
    """Load a saved model directory (see the module docstring); :func:`from_pretrained` with
    the source already found. ``expected_files`` (name -> sha256, e.g. from a zoo entry) are
    checked besides the checksums in ``config.json``. The weights are loaded straight onto
    ``device`` into a model built on the meta device (see the module docstring). A save that
    swaps the folder while it is read (its files then mismatch) is read again, once.
    ``architecture`` is the registry name to build a folder under whose config.json names none
    (a ``PyTorchModelHubMixin`` folder)."""
    directory = Path(directory)
    where = where or f"model directory {str(directory)!r}"
    request = _Request(
        resolve_device(device),
        resolve_dtype(dtype),
        strict,
        _registry(registry),
        architecture,
        expected_files,
        where,
    )
    return _load_once_more_if_swapped(directory, request)


class _Request(NamedTuple):
    """What to load a folder as: :func:`load_directory`'s arguments, resolved."""

    device: torch.device
    dtype: torch.dtype | None
    strict: bool
    registry: Any
    architecture: str | None
    expected_files: Mapping[str, str] | None
    where: str


def _load_once_more_if_swapped(directory: Path, request: _Request) -> Any:
    """:func:`_load_directory`, read again (once) when a save swapped the folder meanwhile."""
    info = _stat(directory)
    try:
        return _load_directory(directory, *request, info)
    except WeightsError:
        if info is None or _identity(directory) == (info.st_dev, info.st_ino):
            raise
    return _load_directory(directory, *request, None)  # the new folder


def _stat(directory: Path) -> os.stat_result | None:
    try:
        return os.stat(directory)
    except OSError:
        return None


def _identity(directory: Path) -> tuple[int, int] | None:
    """Which folder ``directory`` is now: a save's swap puts another one in its place."""
    info = _stat(directory)
    return None if info is None else (info.st_dev, info.st_ino)


def _load_directory(
    directory: Path,
    torch_device: torch.device,
    torch_dtype: torch.dtype | None,
    strict: bool,
    registry: Any,
    architecture: str | None,
    expected_files: Mapping[str, str] | None,
    where: str,
    info: os.stat_result | None,
) -> Any:
    """The model in ``directory``; ``info`` is the folder's ``os.stat`` taken just before."""
    from seqzoo.core.data import Preprocessing

    listing = _listing(directory, where, info)
    _check_own_files(directory, where, listing)
    check_model_files(listing.files, where)
    config = _read_config(directory / CONFIG_NAME, where, architecture)
    recorded = config.get("files") or {}
    checksums = [(n, h, "the zoo catalogue") for n, h in (expected_files or {}).items()]
    checksums += [(n, h, CONFIG_NAME) for n, h in recorded.items()]
    _verify(directory, checksums, where, listing)

    make = _constructor(config, registry, where)
    model = _build_and_load(make, directory / WEIGHTS_NAME, torch_device, strict, where)
    if torch_dtype is not None:
        model.to(dtype=torch_dtype)

    # a tokenizer.json the config does not list is a leftover, not part of this model
    tokenizer_path = directory / TOKENIZER_NAME
    wants_tokenizer = TOKENIZER_NAME in recorded if "files" in config else tokenizer_path.is_file()
    tokenizer = _load_tokenizer(tokenizer_path, where) if wants_tokenizer else None
    preprocessing = None
    if config.get("preprocessing") is not None or tokenizer is not None:
        try:
            preprocessing = Preprocessing.from_dict(config.get("preprocessing") or {}, tokenizer)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(
                f"{where}: {CONFIG_NAME}'s 'preprocessing' is invalid ({exc})"
            ) from None
    model.preprocessing = preprocessing
    model.registry_name = config["model"]
    model.pretrained_config = config
    return model.eval()


def from_pretrained(
    name_or_path: str | os.PathLike[str],
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    *,
    strict: bool = True,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    registry: Any = None,
    architecture: str | None = None,
) -> Any:
    """Load a pretrained model, ready for inference (eval mode) on ``device``.

    ``name_or_path`` is a local directory, a zoo name (registered by a plugin), or a Hub repo
    id ``"org/name"`` (optionally ``"org/name@revision"``, or pass ``revision``). Hub files go
    through the standard cache (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``: cache only).
    ``device="auto"`` picks CUDA, then MPS, then the CPU; ``dtype`` casts the weights
    (``"float16"``, ``"bfloat16"``, ...). Weights must match the model exactly unless
    ``strict=False``. The model carries ``preprocessing``, ``registry_name`` and
    ``pretrained_config`` (its config.json, as :func:`parse_config` reads it). A folder saved
    by huggingface_hub's ``PyTorchModelHubMixin`` (constructor arguments only) needs
    ``architecture``: the registry name to build it under (``"lstm"``).
    """
    registry = _registry(registry)
    torch_device = resolve_device(device)  # fail on a bad device before any download
    torch_dtype = resolve_dtype(dtype)
    if isinstance(name_or_path, (str, os.PathLike)) and str(name_or_path).strip():
        local = os.path.expanduser(name_or_path)  # a string: no Path built on the hot path
        if not os.path.lexists(local):
            recover_directory(local)  # a save killed between its two renames: finish it
    directory, expected, where = locate(
        name_or_path,
        revision,
        registry=registry,
        local_files_only=local_files_only,
        cache_dir=cache_dir,
    )
    request = _Request(torch_device, torch_dtype, strict, registry, architecture, expected, where)
    return _load_once_more_if_swapped(directory, request)
