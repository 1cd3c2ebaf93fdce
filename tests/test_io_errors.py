"""File-system failures are StorageErrors naming the path and the cause (and the CLI exits 2
with them, not "internal error"), nothing half-written is left, and weights stored as another
kind of number than the model's are refused."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import seqzoo
from seqzoo.cli import main
from seqzoo.core.errors import StorageError, WeightsError
from seqzoo.core.files import os_error_in, storage_error, write_file_atomic
from seqzoo.zoo import from_pretrained, save_pretrained
from seqzoo.zoo.hub import file_sha256


def _model(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return seqzoo.create_model("gru", input_size=3, hidden_size=5).eval()


def _same(folder: Path, model: Any) -> bool:
    loaded = from_pretrained(folder, device="cpu").state_dict()
    return all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def _fail_with(code: int) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    return fail


# -- save_pretrained ----------------------------------------------------------------------------


def test_a_full_disk_while_saving_keeps_the_old_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    old = _model(0)
    save_pretrained(old, folder)
    monkeypatch.setattr(os, "fsync", _fail_with(errno.ENOSPC))  # where a full disk shows
    with pytest.raises(StorageError) as caught:
        save_pretrained(_model(1), folder)
    monkeypatch.undo()
    message = str(caught.value)
    assert f"cannot save the model to {str(folder)!r}: the disk is full" in message
    assert "still holds its previous files, unchanged" in message
    assert "free some space" in message
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folder left
    assert _same(folder, old)


def test_a_full_disk_inside_safetensors_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch
    from safetensors import SafetensorError

    def full(*args: Any, **kwargs: Any) -> None:  # safetensors' own (Rust) I/O error
        raise SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    with pytest.raises(StorageError, match="the disk is full") as caught:
        save_pretrained(_model(), tmp_path / "m")
    assert repr(str(tmp_path / "m" / "model.safetensors")) in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_file_system_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "mkdir", _fail_with(errno.EROFS))
    with pytest.raises(StorageError, match="the file system is read-only") as caught:
        save_pretrained(_model(), tmp_path / "m")
    assert "write to a writable location" in str(caught.value)
    assert caught.value.path == str(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_a_name_too_long_is_said_with_its_length(tmp_path: Path) -> None:
    folder = tmp_path / ("n" * 300)  # real: the file system refuses it
    with pytest.raises(StorageError, match="a file name is too long") as caught:
        save_pretrained(_model(), folder)
    assert "the longest name has 300 bytes" in str(caught.value)
    assert caught.value.errno == errno.ENAMETOOLONG
    assert list(tmp_path.iterdir()) == []


def test_an_onnx_export_onto_a_full_disk_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx = pytest.importorskip("onnx")
    from seqzoo.zoo.onnx import OnnxError, export_onnx

    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    monkeypatch.setattr(onnx, "save_model", _fail_with(errno.ENOSPC))
    with pytest.raises(StorageError, match="cannot export the model to .*the disk is full") as e:
        export_onnx(_model(), path)
    assert isinstance(e.value, OnnxError)  # still what export_onnx raises on failure
    assert f"{str(path)!r} is unchanged" in str(e.value)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


# -- single files and the mapper ----------------------------------------------------------------


def test_an_atomic_write_onto_a_folder_or_a_full_disk_keeps_what_was_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(StorageError, match="it is a directory, not a file"):
        write_file_atomic(tmp_path / "out", "a,b\n")  # real EISDIR
    write_file_atomic(tmp_path / "out.csv", "old\n")
    monkeypatch.setattr(os, "fsync", _fail_with(errno.ENOSPC))
    with pytest.raises(StorageError, match="the disk is full.*'.*out.csv' is unchanged"):
        write_file_atomic(tmp_path / "out.csv", "new\n")
    monkeypatch.undo()
    assert (tmp_path / "out.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.csv"]  # no temporaries


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENAMETOOLONG, "a file name is too long"),
        (errno.EISDIR, "it is a directory, not a file"),
        (errno.ENOTDIR, "a part of the path is a file, not a directory"),
    ],
)
def test_each_cause_is_said_in_words(code: int, words: str) -> None:
    error = storage_error(OSError(code, os.strerror(code), "/data/x"), action="write")
    assert str(error).startswith(f"cannot write '/data/x': {words} ({os.strerror(code)}")
    assert isinstance(error, StorageError) and error.errno == code


def test_an_os_error_inside_another_libraries_message_is_found() -> None:
    found = os_error_in(RuntimeError('I/O error: Read-only file system (os error 30) at path "/x"'))
    assert found is not None and (found.errno, found.filename) == (errno.EROFS, "/x")
    assert os_error_in(RuntimeError("shape mismatch")) is None


# -- the command line ---------------------------------------------------------------------------


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    return int(exit.value.code or 0), capsys.readouterr().err


def test_cli_output_that_is_a_folder_or_too_long_a_name_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    code, err = _run(["predict", "rnn-nile", "--steps", "2", "--output", "out"], capsys)
    assert code == 2, err
    assert "error: 'out': it is a directory, not a file" in err and "internal error" not in err
    long = "y" * 300 + ".csv"
    code, err = _run(["predict", "rnn-nile", "--steps", "2", "--output", long], capsys)
    assert code == 2, err
    assert "a file name is too long" in err and f"{long}'" in err  # the name given, not a temp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not any(
        (tmp_path / "out").iterdir()
    )


def test_cli_run_dir_that_is_a_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").write_text("not a folder")
    argv = ["train", "--run-dir", str(tmp_path / "run"), "--epochs", "1", "--quiet"]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert str(tmp_path / "run") in err and "internal error" not in err
    assert (tmp_path / "run").read_text() == "not a folder"


def test_cli_an_os_error_escaping_a_command_exits_2_a_bug_still_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import seqzoo.core.training

    out = str(tmp_path / "f.csv")

    def read_only(path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(seqzoo.core.training, "atomic_write", read_only)
    code, err = _run(["predict", "rnn-nile", "--steps", "2", "--output", out], capsys)
    assert code == 2, err
    assert f"error: {out!r}: the file system is read-only" in err

    def bug(*args: Any, **kwargs: Any) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr(seqzoo.core.training, "atomic_write", bug)
    code, err = _run(["predict", "rnn-nile", "--steps", "2", "--output", out], capsys)
    assert code == 1 and "internal error: TypeError: a bug" in err


# -- weights of another kind of number ----------------------------------------------------------


def _store(folder: Path, change: Any) -> None:
    """Rewrite the folder's weights with ``change(tensors)`` and record their new sha256, as a
    file converted by another tool would be."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = change(load_file(str(path)))
    save_file(tensors, str(path), metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["seqzoo"]["files"]["model.safetensors"] = file_sha256(path)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("dtype", "shown"), [(torch.int64, "int64 (integer)"), (torch.bool, "bool (bool)")]
)
def test_integer_or_bool_weights_for_float_parameters_are_refused(
    tmp_path: Path, dtype: torch.dtype, shown: str
) -> None:
    from seqzoo.zoo import pretrained

    folder = tmp_path / "m"
    save_pretrained(_model(), folder)
    _store(folder, lambda t: {k: (v * 1e9).to(dtype) for k, v in t.items()})
    pattern = re.compile(
        rf"stores '([\w.]+)' as {re.escape(shown)}, but the model built from config.json "
        r"holds float32 \(floating-point\) there"
    )
    with pytest.raises(WeightsError) as caught:
        from_pretrained(folder, device="cpu")
    found = pattern.search(str(caught.value))
    assert found and found.group(1) in _model().state_dict(), str(caught.value)
    # and in the normal build (a model the meta device cannot build) the same check holds
    path, cpu = folder / "model.safetensors", torch.device("cpu")
    with pytest.raises(WeightsError) as caught:
        pretrained._load_weights(_model(), path, cpu, True, "here")
    assert pattern.search(str(caught.value)), str(caught.value)


def test_half_precision_weights_still_load_into_a_float32_model(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model = _model()
    save_pretrained(model, folder)
    _store(folder, lambda t: {k: v.half() for k, v in t.items()})
    loaded = from_pretrained(folder, device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    torch.testing.assert_close(loaded.head.weight, model.head.weight.half().float())
