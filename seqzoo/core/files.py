"""Crash-safe writes of files and folders, and file-system errors that say what went wrong.

**Folders** (:func:`staged_directory`). A multi-file artifact (a saved model: config.json
holding the checksums of model.safetensors, ...) is replaced as a whole. Its new version is
written into a staging folder beside the target, in the same parent (so renames stay on one
file system), then swapped in::

    1. mkdir  P/.NAME.TOKEN.partial          the caller writes every file into it
    2. fsync  every file and folder in it
    3. lock   P (flock on the parent folder: swaps and recoveries there run one at a time)
    4. carry  the target's other entries in (hard links: no copy, the target is untouched)
    5. rename P/NAME -> P/.NAME.TOKEN.old     (skipped when there is no target yet)
    6. rename P/.NAME.TOKEN.partial -> P/NAME, fsync P
    7. unlock, remove P/.NAME.TOKEN.old (after moving across any entry another program
       created in the old folder since step 4)

Invariants, for a process killed at any instant (SIGKILL, power loss after the fsyncs):

- ``NAME`` is either the complete old folder or the complete new one, never a mix: it changes
  only by the renames of steps 5 and 6, and nothing writes into it.
- ``NAME`` is missing only between steps 5 and 6. Then ``.NAME.TOKEN.old`` exists and
  ``.NAME.TOKEN.partial`` (same TOKEN) is complete, because step 5 runs only after step 2.
  :func:`recover_directory` (which every reader calls when the target is missing) renames that
  partial folder into place (roll forward), or the old one back when it is gone (roll back).
- A ``.partial`` folder without an ``.old`` twin is incomplete: it is never made the target,
  and is removed by the next swap once its writer is dead (a writer holds a shared flock on
  it while it writes, released by the kernel when the writer dies).
- An ``.old`` folder beside an existing target is superseded and removed by the next swap.
- Entries of the old folder other than the artifact's own files (``carry_others``: a git
  checkout, notes, logs) are hard-linked into the new folder before the swap, so they are in
  the target in every state. Names the new folder writes win; names in ``replaces`` are not
  carried (e.g. the tokenizer of a previous text model).

One writer per target at a time is assumed for the write phase; the lock makes the swap and
recovery themselves safe against each other. A reader that opens the target's files while a
live swap replaces it may see files of both versions: it can compare the target's inode
before and after and read again (``seqzoo.zoo.pretrained.load_directory`` does). A target that is a mount point cannot be
renamed: its entries are then replaced one by one (``last`` last), which is not atomic.

**Files** (:func:`write_file_atomic`): a temporary file in the same folder, fsync'd, then
``os.replace``'d over the target.

**Folder members** (:func:`member_path`, :func:`member_file`): a name read from a file (a
``config.json`` file list, a catalogue, ``run.json``, a checkpoint name) names a plain file
directly inside its folder, never ``..``, an absolute path, a link out or a special file;
both check it before anything is opened or written.

**Errors** (:func:`io_errors`, :func:`storage_error`): an :class:`OSError` at an I/O boundary
becomes a :class:`~seqzoo.core.errors.StorageError` naming the path, the cause in words (the
disk is full, the file system is read-only, a name is too long, ...), what was kept and the
fix. :func:`os_error_in` finds the OS error inside a message of a library that reports one as
text (safetensors' "(os error 28)").

Stable API: :func:`staged_directory`, :func:`recover_directory`, :func:`write_file_atomic`,
:func:`replace_file`, :func:`io_errors`, :func:`storage_error`, :func:`os_error_in`,
:func:`fsync_file`, :func:`fsync_directory`, :func:`fsync_count`, :func:`sync_tree`,
:func:`member_path`, :func:`member_file`.
Standard library only (no torch).
"""

from __future__ import annotations

import errno as errnos
import hashlib
import io
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import StorageError, WeightsError

try:  # POSIX; elsewhere swaps are not locked and abandoned partial folders are kept
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl module off POSIX

__all__ = [
    "fsync_count",
    "fsync_directory",
    "fsync_file",
    "io_errors",
    "member_file",
    "member_path",
    "os_error_in",
    "recover_directory",
    "replace_file",
    "staged_directory",
    "storage_error",
    "sync_tree",
    "write_file_atomic",
]

PARTIAL = "partial"
OLD = "old"

PathLike = str | os.PathLike[str]


# -- errors -----------------------------------------------------------------------------------

_CAUSES: dict[int, str] = {
    errnos.ENOSPC: "the disk is full",
    errnos.EROFS: "the file system is read-only",
    errnos.EACCES: "permission denied",
    errnos.EPERM: "the operation is not permitted",
    errnos.ENAMETOOLONG: "a file name is too long",
    errnos.EISDIR: "it is a directory, not a file",
    errnos.ENOTDIR: "a part of the path is a file, not a directory",
    errnos.EEXIST: "it already exists",
    errnos.ENOENT: "it (or a folder above it) does not exist",
    errnos.ENOTEMPTY: "the folder is not empty",
    errnos.EXDEV: "it is on another file system",
    errnos.EBUSY: "it is in use (a mount point, or open elsewhere)",
    errnos.EIO: "an input/output error (the disk or its connection may be failing)",
    errnos.EMFILE: "too many open files",
    errnos.ENFILE: "too many open files",
    errnos.ELOOP: "too many levels of symbolic links",
}
if hasattr(errnos, "EDQUOT"):
    _CAUSES[errnos.EDQUOT] = "the disk quota is exceeded"

_FIXES: dict[int, str] = {
    errnos.ENOSPC: "free some space (or write elsewhere) and try again",
    errnos.EROFS: "write to a writable location",
    errnos.EACCES: "check the permissions, or write elsewhere",
    errnos.EPERM: "check the permissions, or write elsewhere",
    errnos.ENAMETOOLONG: "use a shorter name (most file systems allow 255 bytes per name)",
    errnos.EISDIR: "give the path of a file, not of a folder",
    errnos.ENOTDIR: "remove or rename that file, or choose another path",
    errnos.EMFILE: "raise the open-file limit (ulimit -n)",
}
if hasattr(errnos, "EDQUOT"):
    _FIXES[errnos.EDQUOT] = _FIXES[errnos.ENOSPC]


def _longest_name(path: str) -> int:
    return max((len(os.fsencode(part)) for part in Path(path).parts), default=0)


def storage_error(
    exc: OSError,
    path: PathLike | None = None,
    action: str | None = None,
    kept: str | None = None,
) -> StorageError:
    """The :class:`StorageError` for ``exc``: ``"cannot ACTION 'PATH': CAUSE (...); KEPT; FIX"``.

    ``path`` defaults to the error's own file name (a rename's destination); a failing file
    inside ``path`` is named too. ``action`` is a verb phrase ("save the model to"); ``kept`` says what is intact
    ("'m' still holds the previous model, unchanged"). A StorageError is returned as it is.
    """
    if isinstance(exc, StorageError):
        return exc
    code = exc.errno
    # a rename's destination (filename2) is the name the user gave; the source is temporary
    shown = os.fspath(path) if path is not None else (exc.filename2 or exc.filename)
    shown = os.fsdecode(shown) if isinstance(shown, bytes) else shown
    if path is None and isinstance(shown, str):
        shown = _user_path(shown)
    head = f"cannot {action} {shown!r}" if action and shown else (f"{shown!r}" if shown else "")
    if not head:
        head = f"cannot {action}" if action else "a file operation failed"
    cause = _CAUSES.get(code) if code is not None else None
    detail = exc.strerror or str(exc) or type(exc).__name__
    failing = exc.filename if isinstance(exc.filename, str) else None
    if code in (errnos.EEXIST, errnos.ENOTDIR) and shown and os.path.isfile(shown):
        cause = "a file of that name is in the way (a folder is needed there)"
    if cause is None:
        text = detail
    else:
        text = f"{cause} ({detail}"
        if code == errnos.ENAMETOOLONG and (failing or shown):
            text += f"; the longest name has {_longest_name(shown or failing or '')} bytes"
        text += ")"
    if failing and shown and failing.startswith(os.path.join(shown, "")):
        text += f" at {failing!r}"  # which file of the folder
    parts = [f"{head}: {text}"]
    if kept:
        parts.append(kept)
    if code in _FIXES:
        parts.append(_FIXES[code])
    error = StorageError("; ".join(parts), errno=code, path=shown, kept=kept)
    error.strerror = exc.strerror
    return error


_TEMPORARY = re.compile(r"\.(.+)\.(?:tmp-\w+|[0-9a-f]{22}\.(?:tmp|partial|old))")


def _user_path(path: str) -> str:
    """The name a temporary sibling stands for: ``.out.csv.tmp-x1y2`` (``tempfile`` style) or
    ``.out.csv.TOKEN.tmp`` (this module's) -> ``out.csv``; other paths as they are."""
    head, name = os.path.split(path)
    match = _TEMPORARY.fullmatch(name)
    return os.path.join(head, match.group(1)) if match else path


@contextmanager
def io_errors(path: PathLike, action: str, kept: str | None = None) -> Iterator[None]:
    """Turn an :class:`OSError` raised inside into a :func:`storage_error` for ``path``."""
    try:
        yield
    except StorageError:
        raise
    except io.UnsupportedOperation:
        raise  # a file used the wrong way: a bug, not the file system
    except OSError as exc:
        raise storage_error(exc, path, action, kept) from exc


_OS_ERROR = re.compile(r"\(os error (\d+)\)(?:\s+at path \"([^\"]*)\")?")


def os_error_in(exc: BaseException) -> OSError | None:
    """The :class:`OSError` ``exc`` is or reports in its message (Rust libraries such as
    safetensors raise their own type with "... (os error 28)"), or None."""
    if isinstance(exc, OSError):
        return exc
    match = _OS_ERROR.search(str(exc))
    if match is None:
        return None
    code = int(match.group(1))
    return (
        OSError(code, os.strerror(code), match.group(2))
        if match.group(2)
        else OSError(code, os.strerror(code))
    )


# -- durability -------------------------------------------------------------------------------

_FSYNCS = [0]  # fsyncs issued by this module (a profiling figure: see fsync_count)


def fsync_count() -> int:
    """How many fsyncs (files and folders) this module has issued in this process: a
    profiling figure (``SEQZOO_PROFILE`` reports a fit's difference)."""
    return _FSYNCS[0]


def fsync_file(path: PathLike) -> None:
    """Flush a written file's bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _FSYNCS[0] += 1
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: PathLike) -> None:
    """Flush a folder's entries (names created, renamed or removed) to the disk; a no-op
    where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):  # pragma: no cover - Windows
        return
    try:
        _FSYNCS[0] += 1
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on a folder; the data is synced
        if exc.errno not in (errnos.EINVAL, errnos.EBADF):
            raise
    finally:
        os.close(fd)


def sync_tree(root: PathLike, *, files: bool = True) -> None:
    """fsync every regular file (unless ``files=False``) and every folder under ``root``,
    deepest first, ``root`` last."""
    for folder, _, names in os.walk(root, topdown=False):
        if files:
            for name in names:
                path = os.path.join(folder, name)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    fsync_file(path)
        fsync_directory(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file_atomic(
    path: PathLike,
    data: bytes | str | Callable[[Path], object],
    *,
    action: str = "write",
) -> Path:
    """Write ``path`` all or nothing: ``data`` (bytes, UTF-8 text, or ``write(tmp)`` that
    fills a temporary path) goes to a new file beside it, which is fsync'd and renamed over
    ``path``. On failure the temporary file is removed and ``path`` is as it was; an OSError is
    raised as a :func:`storage_error` (``action``: "write", "export the model to", ...)."""
    path = Path(path)
    kept = f"{str(path)!r} is unchanged" if os.path.lexists(path) else "nothing was written"
    with io_errors(path, action, kept):
        return replace_file(path, data)


def replace_file(
    path: PathLike, data: bytes | str | Callable[[Path], object], *, sync_dir: bool = True
) -> Path:
    """:func:`write_file_atomic` raising an OSError as the system gave it (for callers that
    name the failure themselves). ``sync_dir=False`` leaves the folder's fsync to the caller
    (one for several files written side by side)."""
    path = Path(path)
    temporary = path.with_name(f".{_stem(path.name)}.{_token()}.tmp")
    try:
        if callable(data):
            data(temporary)
        else:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with open(fd, "wb") as handle:
                handle.write(raw)
        fsync_file(temporary)
        if callable(data):  # a library may create its file owner-only: follow the umask
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    if sync_dir:
        fsync_directory(path.parent)
    return path


# -- folders ----------------------------------------------------------------------------------


def _stem(name: str) -> str:
    """The part of a sibling's name that stands for ``name``: short enough that the sibling's
    name stays under the usual 255-byte limit whenever ``name`` does."""
    if len(os.fsencode(name)) <= 100:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:10]
    return f"{name[:60]}~{digest}"


def _token() -> str:
    """22 hex digits, in time order (names of later swaps sort after earlier ones)."""
    return f"{time.time_ns():016x}{secrets.token_hex(3)}"


def _sibling(target: Path, token: str, kind: str) -> Path:
    return target.with_name(f".{_stem(target.name)}.{token}.{kind}")


def _leftovers(target: Path) -> dict[str, set[str]]:
    """``{token: {"partial", "old"}}`` of the swap folders beside ``target``."""
    pattern = re.compile(rf"\.{re.escape(_stem(target.name))}\.([0-9a-f]{{22}})\.({PARTIAL}|{OLD})")
    found: dict[str, set[str]] = {}
    try:
        names = os.listdir(target.parent)
    except (OSError, ValueError):  # no such folder (a zoo name, a Hub repo id): nothing to do
        return found
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            found.setdefault(match.group(1), set()).add(match.group(2))
    return found


def _real_target(target: Path) -> Path:
    """A target that is a symbolic link is swapped where it points (the link stays)."""
    target = target.expanduser()
    return target.resolve() if target.is_symlink() else target


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on ``folder``: swaps and recoveries in it run one at a time."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with suppress(OSError):  # no flock on this file system (some NFS setups): unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _hold(folder: Path) -> int | None:
    """A shared flock on a staging folder while its writer lives (see :func:`_abandoned`)."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    fd = os.open(folder, os.O_RDONLY)
    with suppress(OSError):  # no flock here: the folder then looks live to others (kept)
        fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _abandoned(folder: Path) -> bool:
    """Whether no living process writes into the staging ``folder`` (nobody holds its lock)."""
    if fcntl is None:  # pragma: no cover - Windows: cannot tell, keep it
        return False
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by its writer (or no flock on this file system): keep it
        return False
    finally:
        os.close(fd)
    return True


def _recover_locked(target: Path, own: str | None = None) -> bool:
    """Finish or undo an interrupted swap of ``target`` and remove what dead swaps left
    (the parent is locked). Returns whether the target was put back."""
    found = _leftovers(target)
    restored = False
    if not os.path.lexists(target):
        olds = sorted(token for token, kinds in found.items() if OLD in kinds and token != own)
        if olds:
            token = olds[-1]
            # the partial twin of an .old folder is complete (step 5 follows step 2)
            source = PARTIAL if PARTIAL in found[token] else OLD
            os.rename(_sibling(target, token, source), target)
            fsync_directory(target.parent)
            found[token].discard(source)
            restored = True
    for token, kinds in found.items():
        if token == own:
            continue
        if OLD in kinds and os.path.lexists(target):
            shutil.rmtree(_sibling(target, token, OLD), ignore_errors=True)
        partial = _sibling(target, token, PARTIAL)
        if PARTIAL in kinds and _abandoned(partial):
            shutil.rmtree(partial, ignore_errors=True)
    return restored


def recover_directory(target: PathLike) -> bool:
    """Make ``target`` whole again after a swap that a killed process left half done: when
    it is missing and a swap's folders are beside it, the new folder is renamed into place if
    it was complete, else the old one back. Returns whether it did so. Cheap when there is
    nothing to do (one listing of the parent folder); readers call it when a target is missing.
    """
    path = _real_target(Path(target))
    if not _leftovers(path):
        return False
    with io_errors(path, "recover the interrupted save of"), _locked(path.parent):
        return _recover_locked(path)


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link (no data copied, the old folder untouched); a copy where links fail."""
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def _carry(target: Path, staging: Path, replaces: set[str]) -> set[str]:
    """Link the entries of ``target`` that the new folder neither writes nor replaces into
    ``staging``; return the names of every entry the old folder had."""
    written = set(os.listdir(staging))
    seen: set[str] = set()
    for entry in os.scandir(target):
        seen.add(entry.name)
        if entry.name in written or entry.name in replaces:
            continue
        destination = staging / entry.name
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, destination, symlinks=True, copy_function=_link_or_copy)
            sync_tree(destination, files=False)
        else:
            _link_or_copy(entry.path, str(destination))
    return seen


def _replace_entries(staging: Path, target: Path, replaces: set[str], last: str | None) -> None:
    """The non-atomic fallback for a target that cannot be renamed (a mount point)."""
    names = sorted(os.listdir(staging), key=lambda n: n == last)
    for name in names:
        if name == last:
            for stale in replaces - set(names):
                path = target / stale
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    path.unlink()
        destination = target / name
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        os.replace(staging / name, destination)
    fsync_directory(target)
    os.rmdir(staging)  # empty now


def _swap(
    staging: Path,
    target: Path,
    token: str,
    carry_others: bool,
    replaces: set[str],
    last: str | None,
) -> Path | None:
    """Steps 4 to 6 of the module docstring; returns the ``.old`` folder left to remove."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        fsync_directory(target.parent)
        return None
    if not target.is_dir():
        raise OSError(errnos.ENOTDIR, "exists and is not a directory", str(target))
    if os.path.ismount(target):
        _replace_entries(staging, target, replaces, last)
        return None
    seen = _carry(target, staging, replaces) if carry_others else set()
    with suppress(OSError):  # the folder keeps its mode (e.g. group-readable)
        os.chmod(staging, stat.S_IMODE(os.stat(target).st_mode))
    fsync_directory(staging)
    old = _sibling(target, token, OLD)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)  # put the old folder back: the target is never left missing
        raise
    fsync_directory(target.parent)
    if carry_others:  # entries another program created in the old folder during the swap
        for name in set(os.listdir(old)) - seen:
            if not os.path.lexists(target / name):
                with suppress(OSError):
                    os.rename(old / name, target / name)
    return old


@contextmanager
def staged_directory(
    target: PathLike,
    *,
    carry_others: bool = True,
    replaces: Iterable[str] = (),
    last: str | None = None,
    action: str = "write",
) -> Iterator[Path]:
    """Replace the folder ``target`` as a whole, crash-safely (see the module docstring).

    Yields an empty staging folder beside ``target``; write every file of the new version
    into it. When the block ends normally the files are fsync'd and the folder is swapped in;
    when it raises, the staging folder is removed and ``target`` is untouched. The old
    folder's other entries are carried across (``carry_others``), except names the new folder
    writes and those in ``replaces``. ``last``: the file replaced last where the folder cannot
    be swapped (a mount point). An OSError becomes a :func:`storage_error` saying "cannot
    ACTION 'target'" and what was kept. Readers call :func:`recover_directory`.
    """
    path = _real_target(Path(target))
    existed = os.path.lexists(path)
    kept = (
        f"{str(path)!r} still holds its previous files, unchanged"
        if existed
        else "nothing was written"
    )
    hold: int | None = None
    staging: Path | None = None
    try:
        with io_errors(path, action, kept):
            if existed and not path.is_dir():
                raise OSError(errnos.ENOTDIR, "exists and is not a directory", str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            token = _token()
            staging = _sibling(path, token, PARTIAL)
            os.mkdir(staging)
            hold = _hold(staging)
        try:
            yield staging
        except StorageError:
            raise
        except OSError as exc:
            if isinstance(exc, io.UnsupportedOperation):
                raise  # a file used the wrong way: a bug, not the file system
            _name_target(exc, staging, path)
            raise storage_error(exc, path, action, kept) from exc
        with io_errors(path, action, kept):
            sync_tree(staging)
            with _locked(path.parent):
                _recover_locked(path, own=token)
                old = _swap(staging, path, token, carry_others, set(replaces), last)
            staging = None  # it is the target now
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if hold is not None:
            os.close(hold)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _name_target(exc: OSError, staging: Path, target: Path) -> None:
    """Say which file of the target failed, not which file of the staging folder."""
    if isinstance(exc.filename, str) and exc.filename.startswith(str(staging)):
        with suppress(AttributeError, TypeError):
            exc.filename = str(target) + exc.filename[len(str(staging)) :]


# -- folder members ---------------------------------------------------------------------------


def member_path(
    directory: PathLike, name: object, where: str, source: str, *, kind: str = "model folder"
) -> Path:
    """``directory / name`` after checking that ``name`` is a plain file name of the folder
    itself: a non-empty string with no separator, ``..``, drive, NUL or absolute form. Only
    the name is checked (the file may not exist yet: for writes); :func:`member_file` also
    checks what is on disk. A :class:`WeightsError` names the name, the folder and
    ``source`` (who gave the name)."""
    text = name if isinstance(name, str) else repr(name)
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or any(c in name for c in "/\\\0:")
        or Path(name).is_absolute()
    ):
        raise WeightsError(
            f"{where}: {source} lists the file {text!r}, which is not a plain file name of the "
            f"{kind}; a {kind} may name only files directly inside itself"
        )
    return Path(directory) / name


def member_file(
    directory: PathLike,
    name: object,
    where: str,
    source: str,
    *,
    links_within: Iterable[PathLike] = (),
    kind: str = "model folder",
) -> Path:
    """:func:`member_path`, then what is on disk: a plain file, or a link to a plain file
    inside ``directory`` (or inside one of ``links_within``: a Hub cache snapshot's blobs).
    A link leading anywhere else, a FIFO, device, socket or folder is a :class:`WeightsError`,
    raised before the file is opened. A missing file is returned as is (the caller says so).
    """
    path = member_path(directory, name, where, source, kind=kind)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return path  # missing: the caller says so
    if stat.S_ISREG(mode):
        return path  # a plain file directly inside the folder (the name has no separators)
    if stat.S_ISLNK(mode):
        target = path.resolve()
        roots = [Path(directory).resolve(), *(Path(r).resolve() for r in links_within)]
        if target.is_file() and any(target.is_relative_to(root) for root in roots):
            return path  # resolved: every link of the chain stays inside, ending at a file
    raise WeightsError(
        f"{where}: {name} is a link out of the {kind} or a special file, not a "
        f"plain file; seqzoo reads only plain files of a {kind} (replace it with "
        "the file itself)"
    )
