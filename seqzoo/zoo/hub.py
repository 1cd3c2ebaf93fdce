"""Hugging Face Hub I/O: download a model repository into the standard cache, push a saved
model directory as one commit, and the file rules both share (safetensors only, never pickle).

Downloads go through ``huggingface_hub.snapshot_download``, so revision pinning, the standard
cache, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and tokens work as everywhere else on the Hub; the
environment is read at call time, not only when huggingface_hub was imported. huggingface_hub
is imported inside the functions that use it, so importing this module stays light.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

from seqzoo import __version__
from seqzoo.core import files
from seqzoo.core.errors import ConfigError, SeqzooError, WeightsError

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "DOWNLOAD_PATTERNS",
    "PICKLE_SUFFIXES",
    "TOKENIZER_NAME",
    "WEIGHTS_NAME",
    "PushPlan",
    "check_model_files",
    "check_revision",
    "download",
    "file_sha256",
    "is_repo_id",
    "member_file",
    "parse_repo_id",
    "pickle_files",
    "plan_push",
    "push_to_hub",
    "repo_file_names",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
CARD_NAME = "README.md"
#: What a download fetches: never a pickle, whatever else the repository holds.
DOWNLOAD_PATTERNS = [CONFIG_NAME, WEIGHTS_NAME, TOKENIZER_NAME, CARD_NAME, "*.json"]
#: Weight formats that are pickles: loading one can run arbitrary code, so none is read.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_WHAT_IT_HOLDS = (
    f"a seqzoo model holds {CONFIG_NAME} (registry name, model config, preprocessing), "
    f"{WEIGHTS_NAME} and, for text models, {TOKENIZER_NAME}; write one with "
    "seqzoo.save_pretrained(model, directory)"
)


# -- names and file rules ---------------------------------------------------------------------


def is_repo_id(text: str) -> bool:
    """True for ``"org/name"`` or ``"org/name@revision"``."""
    return bool(_REPO_ID.match(text.partition("@")[0]))


def parse_repo_id(text: str, revision: str | None = None) -> tuple[str, str | None]:
    """Split ``"org/name@revision"`` into ``("org/name", "revision")``.

    A revision both in the text and in ``revision`` must agree (else :class:`ConfigError`).
    """
    repo_id, at, pinned = text.partition("@")
    if not _REPO_ID.match(repo_id):
        raise ConfigError(
            f"{text!r} is not a Hub repo id; write it as 'org/name' (or 'org/name@revision')",
            field="name_or_path",
        )
    if at and not pinned:
        raise ConfigError(f"{text!r} ends in '@' but names no revision", field="revision")
    if pinned and revision is not None and pinned != revision:
        raise ConfigError(
            f"{text!r} pins revision {pinned!r} but revision={revision!r} was passed; give one",
            field="revision",
        )
    return repo_id, (pinned or revision)


def pickle_files(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are pickle weight files (``.bin``, ``.pt``, ...)."""
    return sorted(n for n in names if n.lower().endswith(PICKLE_SUFFIXES))


def check_model_files(names: Iterable[str], where: str) -> None:
    """Raise :class:`WeightsError` unless ``names`` (a directory's or a repo's files) hold a
    seqzoo model: ``config.json`` and ``model.safetensors``. Pickle-only weights are refused
    with the reason, before anything is downloaded or opened."""
    names = set(names)
    if WEIGHTS_NAME not in names:
        pickles = pickle_files(names)
        if pickles:
            raise WeightsError(
                f"{where} holds only pickle weights ({', '.join(pickles)}); seqzoo loads "
                f"{WEIGHTS_NAME} only, because unpickling a file can run arbitrary code. "
                "Convert the weights to safetensors (safetensors.torch.save_model, or "
                "seqzoo.save_pretrained) and load that instead"
            )
    if CONFIG_NAME not in names:
        raise WeightsError(
            f"{where} is not a seqzoo model: it has no {CONFIG_NAME}; {_WHAT_IT_HOLDS}"
        )
    if WEIGHTS_NAME not in names:
        raise WeightsError(f"{where} has no {WEIGHTS_NAME}; {_WHAT_IT_HOLDS}")


def member_file(directory: Path, name: Any, where: str, source: str) -> Path:
    """The path of the file ``name`` inside the model folder ``directory``, after checking that
    it names a plain file of the folder itself: no separators, ``..``, absolute paths or hidden
    tricks, and no link or special file (device, FIFO) in its place. A name read from a
    ``config.json`` or a catalogue is never trusted to stay inside the folder on its own.
    (:func:`seqzoo.core.files.member_file`; a Hub cache snapshot's links to its repository's
    ``blobs`` folder count as plain files.)"""
    directory = Path(directory)
    blobs = [directory.parent.parent / "blobs"] if directory.parent.name == "snapshots" else []
    return files.member_file(directory, name, where, source, links_within=blobs)


def repo_file_names(names: Iterable[str], where: str) -> list[str]:
    """``names`` (a Hub repository's file list), each checked to be a relative path inside the
    repository: no ``..`` segment, absolute, drive or backslash form, no empty segment. A
    listing naming one is refused whole, before anything is downloaded (huggingface_hub also
    refuses such a name when asked to download it, but only after other files were)."""
    checked = []
    for name in names:
        parts = name.split("/") if isinstance(name, str) else []
        if (
            not parts
            or any(part in ("", ".", "..") for part in parts)
            or any(c in name for c in "\\\0")
            or PureWindowsPath(parts[0]).drive  # "C:x" leaves the folder on Windows
        ):
            raise WeightsError(
                f"{where} lists the file {name!r}, which would lie outside the repository's "
                "folder; seqzoo downloads nothing from a repository naming one (ask its owner "
                "to rename it)"
            )
        checked.append(name)
    return checked


def check_revision(revision: str | None) -> None:
    """Refuse a revision that is no git ref or commit: huggingface_hub files a branch or tag
    under the cache's ``refs/<revision>``, so ``..`` or an absolute path there would read or
    write outside the cache. Git itself forbids ``..``, a leading ``/`` and ``\\`` in refs."""
    if revision is None:
        return
    if (
        not isinstance(revision, str)
        or not revision.strip()
        or revision.startswith("/")
        or ".." in revision
        or any(c in revision for c in "\\\0")
        or any(part in ("", ".") for part in revision.split("/"))
        or any(ord(c) < 32 for c in revision)
    ):
        raise ConfigError(
            f"revision {revision!r} is not a branch, tag or commit name (no '..', leading '/', "
            "backslash or empty part); give one that exists on the Hub",
            field="revision",
        )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in chunks (weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- download ---------------------------------------------------------------------------------


def _endpoint() -> str | None:
    """``HF_ENDPOINT`` as set now (huggingface_hub itself reads it once, at import)."""
    value = os.environ.get("HF_ENDPOINT", "").strip()
    return value.rstrip("/") or None


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value in ("1", "true", "yes", "on") or constants.is_offline_mode()


def _describe(repo_id: str, revision: str | None) -> str:
    return f"Hub repository {repo_id!r}" + (f" at revision {revision!r}" if revision else "")


def _hub_error(exc: Exception, repo_id: str, revision: str | None) -> SeqzooError:
    """A seqzoo error saying what went wrong with the Hub and what to do about it."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = _describe(repo_id, revision)
    endpoint = _endpoint() or constants.ENDPOINT
    if isinstance(exc, RevisionNotFoundError):
        return ConfigError(
            f"{_describe(repo_id, None)} has no revision {revision!r}; use a branch, tag or "
            "commit that exists",
            field="revision",
        )
    if isinstance(exc, GatedRepoError):
        return WeightsError(
            f"{where} is gated: accept its conditions on the Hub, then log in (`hf auth login`) "
            "or set HF_TOKEN"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return WeightsError(
            f"{where} was not found on {endpoint}; check the name ('org/name'), or log in "
            "(`hf auth login`, HF_TOKEN) if it is private"
        )
    if isinstance(exc, LocalEntryNotFoundError):
        return WeightsError(
            f"{where} is not (completely) in the local Hub cache and cannot be downloaded now "
            f"({exc}); run it once with network access to cache it, or unset HF_HUB_OFFLINE"
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "an error"
        return WeightsError(f"the Hub at {endpoint} answered {status} for {where}: {exc}")
    return WeightsError(f"cannot download {where} from {endpoint}: {type(exc).__name__}: {exc}")


def download(
    repo_id: str,
    revision: str | None = None,
    *,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Download a model repository's ``config.json``, ``model.safetensors``, ``tokenizer.json``
    and ``README.md`` into the Hub cache; return the snapshot directory.

    ``repo_id`` may pin a revision as ``"org/name@v1"``. The repository's file list is checked
    first, so a repository holding only pickle weights is refused before any download. With
    ``local_files_only=True`` or ``HF_HUB_OFFLINE=1`` nothing is requested: the cached snapshot
    is used. When the Hub cannot be reached the cache is used too, if it holds the revision.
    """
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    repo_id, revision = parse_repo_id(repo_id, revision)
    check_revision(revision)  # before the cache's refs/<revision> is read or written
    endpoint = _endpoint()
    offline = local_files_only or _offline()
    cache = str(cache_dir) if cache_dir is not None else None

    def snapshot(local_only: bool) -> Path:
        return Path(
            snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=DOWNLOAD_PATTERNS,
                local_files_only=local_only,
                cache_dir=cache,
                endpoint=endpoint,
                library_name="seqzoo",
                library_version=__version__,
            )
        )

    if not offline and revision is not None and _COMMIT.match(revision):
        # a commit never changes: when it is cached, asking the Hub again is wasted time
        try:
            return snapshot(True)
        except Exception:
            pass

    unreachable: Exception | None = None
    if not offline:
        api = HfApi(endpoint=endpoint, library_name="seqzoo", library_version=__version__)
        try:
            info = api.model_info(repo_id, revision=revision)
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status < 500:  # the Hub answered: no such repo or revision, no access
                raise _hub_error(exc, repo_id, revision) from None
            unreachable = exc
        except Exception as exc:  # connection refused, timeout, proxy: try the cache below
            unreachable = exc
        else:
            where = _describe(repo_id, revision)
            names = repo_file_names([s.rfilename for s in info.siblings or []], where)
            check_model_files(names, where)
    try:
        return snapshot(offline or unreachable is not None)
    except Exception as exc:
        if isinstance(exc, SeqzooError):
            raise
        if unreachable is not None:
            raise WeightsError(
                f"cannot reach the Hub at {endpoint or 'the default endpoint'} "
                f"({type(unreachable).__name__}: {unreachable}), and "
                f"{_describe(repo_id, revision)} is not in the local cache; check the network "
                "or HF_ENDPOINT"
            ) from None
        raise _hub_error(exc, repo_id, revision) from None


# -- push -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushPlan:
    """What :func:`push_to_hub` sends: every file of the directory, in one commit."""

    repo_id: str
    directory: Path
    files: list[str] = field(default_factory=list)  # paths relative to directory, '/'-joined
    commit_message: str = ""
    commit_description: str = ""


def plan_push(
    directory: str | os.PathLike[str], repo_id: str, *, commit_message: str | None = None
) -> PushPlan:
    """Check a saved model directory and list the files and the commit a push would send.

    The directory must hold a loadable model (``config.json``, ``model.safetensors``, every
    checksum in ``config.json`` matching) and no pickle files; hidden files and folders
    (``.git``, ``.cache``) are left out.
    """
    repo_id, pinned = parse_repo_id(repo_id)
    if pinned:
        raise ConfigError(
            f"push to a branch with revision=..., not {repo_id}@{pinned}", field="repo_id"
        )
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{str(root)!r} is not a directory; save the model there first")
    where = f"model directory {str(root)!r}"
    inside = root.resolve()
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            # uploading it would publish a file from outside the folder
            raise WeightsError(
                f"{where}: {relative.as_posix()} is a link out of the model folder, not a plain "
                "file; seqzoo pushes only files of the folder itself (replace it with the file)"
            )
        files.append(relative.as_posix())
    pickles = pickle_files(files)
    if pickles:
        raise WeightsError(
            f"{where} holds pickle files ({', '.join(pickles)}); the zoo publishes safetensors "
            "only (unpickling can run arbitrary code): remove them before pushing"
        )
    check_model_files(files, where)
    try:
        path = member_file(root, CONFIG_NAME, where, "the seqzoo model format")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{where}: {CONFIG_NAME} is not valid JSON ({exc})") from None
    if isinstance(config, dict) and isinstance(config.get("seqzoo"), dict):
        config = config["seqzoo"]  # the current layout: seqzoo's data under "seqzoo"
    elif not isinstance(config, dict):
        raise WeightsError(f"{where}: {CONFIG_NAME} must hold a JSON object")
    checksums = config.get("files") or {}
    if not isinstance(checksums, dict):
        raise WeightsError(f"{where}: {CONFIG_NAME}'s 'files' must map file names to sha256")
    for name, expected in checksums.items():
        path = member_file(root, name, where, CONFIG_NAME)
        if name not in files:
            raise WeightsError(f"{where}: {CONFIG_NAME} lists {name!r}, which is missing")
        if file_sha256(path) != expected:
            raise WeightsError(
                f"{where}: {name} does not match the sha256 in {CONFIG_NAME}; it changed after "
                "saving: save the model again before pushing"
            )
    model = config.get("model", "model")
    message = commit_message or f"Upload {model} model with seqzoo {__version__}"
    description = "Files:\n" + "\n".join(
        f"- {name}" + (f" (sha256 {checksums[name]})" if name in checksums else "")
        for name in files
    )
    return PushPlan(repo_id, root, files, message, description)


def push_to_hub(
    directory: str | os.PathLike[str],
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
) -> CommitInfo:
    """Upload every file of a saved model directory to ``repo_id`` as ONE commit.

    Creates the repository (and the ``revision`` branch) when missing. Returns
    huggingface_hub's ``CommitInfo`` (``.commit_url``, ``.oid``). An unreachable Hub and a
    missing token are each a :class:`SeqzooError` saying which.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    plan = plan_push(directory, repo_id, commit_message=commit_message)
    api = HfApi(
        endpoint=_endpoint(), token=token, library_name="seqzoo", library_version=__version__
    )
    try:
        api.create_repo(plan.repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(plan.repo_id, branch=revision, exist_ok=True)
        operations = [
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(plan.directory / name))
            for name in plan.files
        ]
        return api.create_commit(
            plan.repo_id,
            operations=operations,
            commit_message=plan.commit_message,
            commit_description=plan.commit_description,
            revision=revision,
            repo_type="model",
        )
    except LocalTokenNotFoundError:
        raise SeqzooError(_NO_TOKEN) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401 and token is None and get_token() is None:
            raise SeqzooError(_NO_TOKEN) from None
        if status in (401, 403):
            raise ConfigError(
                f"not allowed to push to {plan.repo_id!r} ({status}); log in with "
                "`hf auth login`, set HF_TOKEN, or pass token=... with write access"
            ) from None
        raise SeqzooError(f"pushing to {plan.repo_id!r} failed: {exc}") from None
    except Exception as exc:
        if not _is_connection_error(exc):
            raise
        endpoint = _endpoint() or "the default endpoint (https://huggingface.co)"
        raise SeqzooError(
            f"cannot reach the Hub at {endpoint} ({type(exc).__name__}: {exc}): check the "
            "network or HF_ENDPOINT"
        ) from None


_NO_TOKEN = "no Hugging Face token: run `hf auth login` or set HF_TOKEN (or pass token=...)"


def _is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure to reach the server at all: refused,
    timed out, no route, a proxy or TLS failure (httpx's ``TransportError``, by name: the HTTP
    client huggingface_hub uses varies between its versions)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)) or any(
            c.__name__ == "TransportError" for c in type(seen).__mro__
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
