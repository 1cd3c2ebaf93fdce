"""Saving over an existing model is all or nothing: a save killed at any moment leaves the
old model or the new one, loadable, with the folder's other files (seqzoo.core.files)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

import seqzoo
from seqzoo.core.files import recover_directory, staged_directory
from seqzoo.zoo import from_pretrained, save_pretrained

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked writers")

#: The os functions through which a save changes or flushes the disk (safetensors writes its
#: file in Rust: the calls just before and after it bound that step).
HOOKED = ("open", "mkdir", "rename", "replace", "link", "unlink", "rmdir", "fsync")
FINISHED, KILLED, FAILED = 3, 4, 5
PAUSE = 0.0005  # seconds added to each HOOKED call in the random kills


def _model(seed: int) -> Any:
    torch.manual_seed(seed)
    return seqzoo.create_model("gru", input_size=3, hidden_size=6).eval()


def _which(folder: Path, models: list[Any]) -> int:
    """Load ``folder`` with seqzoo's loader: the index of the model it holds (else fail)."""
    loaded = from_pretrained(folder, device="cpu")
    state = loaded.state_dict()
    for index, model in enumerate(models):
        if all(torch.equal(state[k], v) for k, v in model.state_dict().items()):
            return index
    raise AssertionError(f"{folder} holds neither model")


def _save_killed_at(step: int, save: Callable[..., Any], model: Any, folder: Path) -> int:
    """Run ``save(model, folder)`` in a forked child that exits at once (as SIGKILL would:
    no cleanup, no ``finally``) just before its ``step``-th call of a HOOKED function; the
    child's exit code: KILLED, or FINISHED when the save made fewer calls."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            calls = 0

            def hook(real: Callable[..., Any]) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    nonlocal calls
                    calls += 1
                    if calls == step:
                        os._exit(KILLED)
                    return real(*args, **kwargs)

                return call

            for name in HOOKED:
                setattr(os, name, hook(getattr(os, name)))
            save(model, folder)
            os._exit(FINISHED)
        except BaseException:
            os._exit(FAILED)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def kill_at_every_step(tmp_path: Path, save: Callable[..., Any] = save_pretrained) -> list[bool]:
    """Save one model over another, killed before its first, second, ... file-system call
    (until a save completes); after each kill, load the folder. Returns, per kill, whether
    the folder then held the model being saved (False: still the one before)."""
    models = [_model(0), _model(1)]
    folder = tmp_path / "m"
    save_pretrained(models[0], folder)
    (folder / "notes.txt").write_text("mine")
    current = 0
    swapped = []
    for step in range(1, 500):
        # the other model over the one there (and over what the previous kill left)
        code = _save_killed_at(step, save, models[1 - current], folder)
        assert code in (KILLED, FINISHED), f"the save failed at step {step}"
        now = _which(folder, models)
        assert (folder / "notes.txt").read_text() == "mine", f"notes.txt lost at step {step}"
        swapped.append(now != current)
        if code == FINISHED:
            return swapped
        current = now
    raise AssertionError("the save never finished")


def test_a_save_killed_before_any_of_its_file_system_calls_leaves_old_or_new(
    tmp_path: Path,
) -> None:
    swapped = kill_at_every_step(tmp_path)
    assert len(swapped) > 20  # every call of the save was a kill point
    # the old model until the swap, the new one from then on: never a mix, never an error
    assert swapped == sorted(swapped) and not swapped[0] and swapped[-1]
    save_pretrained(_model(2), tmp_path / "m")  # and the next save cleans up what kills left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "notes.txt",
    ]


@contextmanager
def _slow_disk(pause: float) -> Iterator[None]:
    """Each HOOKED call takes ``pause`` seconds longer (a slow disk), so that random kills
    land between the steps of a save, not only inside its data writes."""
    real = {name: getattr(os, name) for name in HOOKED}

    def slowed(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(pause)
            return function(*args, **kwargs)

        return call

    for name, function in real.items():
        setattr(os, name, slowed(function))
    try:
        yield
    finally:
        for name, function in real.items():
            setattr(os, name, function)


def sigkill_repeated_saves(
    tmp_path: Path, rounds: int, save: Callable[..., Any] = save_pretrained
) -> list[int]:
    """Per round, a forked writer saves two models over each other in a loop on a slowed
    disk and is SIGKILLed after a random (seeded) delay; then the folder is loaded here.
    Returns which model each round left."""
    models = [_model(0), _model(1)]
    folder = tmp_path / "m"
    save_pretrained(models[1], folder)
    (folder / "notes.txt").write_text("mine")
    with _slow_disk(PAUSE):
        began = time.perf_counter()
        save(models[0], folder)
        duration = time.perf_counter() - began
    rng = random.Random(0)
    outcomes = []
    for _ in range(rounds):
        started, ready = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer: killed somewhere in its first three saves
            try:
                with _slow_disk(PAUSE):
                    os.write(ready, b"go")
                    for index in range(1, 1000):
                        save(models[index % 2], folder)
            finally:
                os._exit(FAILED)
        os.close(ready)
        os.read(started, 2)  # the writer runs: the random delay counts from its first save
        os.close(started)
        time.sleep(rng.uniform(0.0, 2.5 * duration))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL, "the writer failed"
        outcomes.append(_which(folder, models))
        assert (folder / "notes.txt").read_text() == "mine"
    return outcomes


@pytest.mark.parametrize(
    "rounds",
    [
        20,
        pytest.param(
            50,
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(
                    os.environ.get("SEQZOO_SLOW") != "1", reason="slow: set SEQZOO_SLOW=1"
                ),
            ],
        ),
    ],
)
def test_a_save_sigkilled_at_random_moments_leaves_old_or_new(tmp_path: Path, rounds: int) -> None:
    # each round loads as one of the two models, with notes.txt (which one depends on where
    # the kill landed; kill_at_every_step covers each step deterministically)
    assert len(sigkill_repeated_saves(tmp_path, rounds)) == rounds


# -- the folder swap itself ---------------------------------------------------------------------


def test_other_files_and_folders_are_carried_as_hard_links(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_pretrained(_model(0), folder)
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "objects" / "ab").write_text("blob")
    (folder / ".git" / "HEAD").symlink_to("objects/ab")
    (folder / "train.log").write_text("epoch 1\n")
    before = (folder / "train.log").stat().st_ino
    folder.chmod(0o750)

    save_pretrained(_model(1), folder)
    assert (folder / ".git" / "objects" / "ab").read_text() == "blob"
    assert os.readlink(folder / ".git" / "HEAD") == "objects/ab"
    assert (folder / "train.log").stat().st_ino == before  # linked, not copied
    assert (folder.stat().st_mode & 0o777) == 0o750  # the folder keeps its mode
    assert _which(folder, [_model(0), _model(1)]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_symlinked_target_is_saved_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "store" / "m"
    save_pretrained(_model(0), real)
    (tmp_path / "link").symlink_to(real)
    save_pretrained(_model(1), tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert _which(real, [_model(0), _model(1)]) == 1


def _state_after_first_rename(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The folders a save killed between its two renames leaves: ``(target, old, new)``."""
    target = tmp_path / "m"
    save_pretrained(_model(0), target)
    token = "0" * 22
    old = tmp_path / f".m.{token}.old"
    new = tmp_path / f".m.{token}.partial"
    save_pretrained(_model(1), new)
    os.rename(target, old)
    return target, old, new


def test_a_reader_finishes_a_swap_killed_between_its_renames(tmp_path: Path) -> None:
    target, old, new = _state_after_first_rename(tmp_path)
    assert _which(target, [_model(0), _model(1)]) == 1  # rolled forward by the loader
    assert not new.exists()
    recover_directory(target)  # the old folder beside a complete target: removed
    assert not old.exists()


def test_without_its_new_half_a_swap_is_rolled_back(tmp_path: Path) -> None:
    target, _, new = _state_after_first_rename(tmp_path)
    for path in new.iterdir():
        path.unlink()
    new.rmdir()
    assert recover_directory(target) is True
    assert _which(target, [_model(0), _model(1)]) == 0
    assert recover_directory(target) is False  # nothing left to do


def test_a_dead_writers_staging_folder_is_removed_a_live_ones_kept(tmp_path: Path) -> None:
    import fcntl

    target = tmp_path / "m"
    save_pretrained(_model(0), target)
    dead = tmp_path / f".m.{'1' * 22}.partial"
    live = tmp_path / f".m.{'2' * 22}.partial"
    dead.mkdir()
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # as its writer holds it while writing
    try:
        save_pretrained(_model(1), target)
        assert not dead.exists() and live.exists()
    finally:
        os.close(fd)
    save_pretrained(_model(1), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_failure_inside_the_block_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), staged_directory(target) as staging:
        (staging / "a.txt").write_text("new")
        raise RuntimeError("boom")
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]
    with staged_directory(target, carry_others=False) as staging:
        (staging / "b.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_a_reader_racing_a_save_reads_the_new_folder_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seqzoo.zoo.pretrained as pretrained

    folder = tmp_path / "m"
    save_pretrained(_model(0), folder)
    verify = pretrained._verify
    calls = []

    def racing(*args: Any) -> None:
        if not calls:  # another process swaps the folder after config.json was read
            save_pretrained(_model(1), folder)
        calls.append(args)
        verify(*args)

    monkeypatch.setattr(pretrained, "_verify", racing)
    assert _which(folder, [_model(0), _model(1)]) == 1
    assert len(calls) == 2  # the mismatch it saw first was read again, not reported


def test_a_mount_point_target_gets_its_files_replaced_config_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    from seqzoo.core.data import Preprocessing

    target = tmp_path / "volume"  # a mount point cannot be renamed: no swap possible
    text = seqzoo.create_model("embedding-lstm", vocab_size=3, embedding_dim=2, hidden_size=2)
    tokenizer = Tokenizer(WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    save_pretrained(text, target, preprocessing=Preprocessing(tokenizer=tokenizer))
    (target / "notes.txt").write_text("mine")
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == target)
    replaced = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(Path(b).name), replace(a, b)))
    save_pretrained(_model(1), target)
    assert replaced[-1] == "config.json"
    assert sorted(p.name for p in target.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "notes.txt",
    ]  # the old tokenizer is gone, the other file kept
    assert _which(target, [_model(0), _model(1)]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["volume"]
