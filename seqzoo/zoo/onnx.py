"""Export a model's one-step function to ONNX, the recurrent state as explicit inputs and outputs.

The exported graph computes ``model.step`` once::

    inputs:  x (batch, input_size) float, or (batch,) int64 ids;  state_0 ... state_k
    outputs: y;  next_state_0 ... next_state_k

``state_i`` are the tensors of the model's nested state, depth first; the nesting, shapes and
initial fill values are JSON under the ``"seqzoo"`` key of the ``metadata_props``
(:func:`read_export_info`). Runtimes feed ``next_state_*`` back as ``state_*`` at the next step.
Needs ``pip install 'seqzoo[onnx]'`` (onnx, onnxscript, onnxruntime), imported only when used.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import torch
from torch import Tensor, nn

from seqzoo.core.errors import NotSteppableError, SeqzooError, StorageError
from seqzoo.core.files import write_file_atomic
from seqzoo.core.modules import SequenceModule, State

__all__ = [
    "ExportInfo",
    "OnnxDependencyError",
    "OnnxError",
    "OnnxMismatchError",
    "OnnxStorageError",
    "export_onnx",
    "flatten_state",
    "read_export_info",
    "unflatten_state",
    "verify_onnx",
]

METADATA_KEY = "seqzoo"
FORMAT = "seqzoo.onnx-step/1"

StateTree = Any  # a state's structure: None, a leaf index, {"tuple": [...]} or {"list": [...]}


class OnnxError(SeqzooError):
    """An ONNX export or check that failed."""


class OnnxDependencyError(OnnxError, ImportError):
    """The optional ONNX packages are not installed."""


class OnnxMismatchError(OnnxError):
    """The exported graph's outputs differ from PyTorch's by more than the tolerance."""


class OnnxStorageError(OnnxError, StorageError):
    """The ``.onnx`` file could not be written (a full disk, a read-only folder, ...); the
    previous file, if any, is kept whole."""


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise OnnxDependencyError(
            f"ONNX support needs {module}: pip install 'seqzoo[onnx]'"
        ) from None


def flatten_state(state: State) -> tuple[list[Tensor], StateTree]:
    """Split a nested state into its tensors (depth first) and a JSON-able tree of leaf indices."""
    leaves: list[Tensor] = []

    def walk(node: State) -> StateTree:
        if node is None:
            return None
        if isinstance(node, Tensor):
            leaves.append(node)
            return len(leaves) - 1
        if isinstance(node, (tuple, list)):
            return {type(node).__name__: [walk(child) for child in node]}
        raise OnnxError(f"a state holds tensors, tuples and lists, not {type(node).__name__}")

    return leaves, walk(state)


def unflatten_state(tree: StateTree, leaves: list[Any]) -> State:
    """Rebuild the nested state :func:`flatten_state` flattened (leaves may be any arrays)."""
    if tree is None:
        return None
    if isinstance(tree, int):
        return leaves[tree]
    ((kind, children),) = tree.items()
    rebuilt = [unflatten_state(child, leaves) for child in children]
    return tuple(rebuilt) if kind == "tuple" else rebuilt


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What :func:`export_onnx` wrote, stored as JSON in the file too (:func:`read_export_info`).
    Shapes hold ``"batch"`` at a dynamic batch axis. ``state_fills``: the value of every element
    of each initial state tensor (infinities as strings), or None where it is not constant."""

    registry_name: str | None
    config: dict[str, Any] | None
    input_kind: str
    input_shape: list[int | str]
    input_dtype: str
    input_names: list[str]
    output_names: list[str]
    state_tree: StateTree
    state_shapes: list[list[int | str]]
    state_dtypes: list[str]
    state_fills: list[float | str | None]
    batch_size: int
    dynamic_batch: bool
    exporter: str
    opset: int
    #: the model's preprocessing (``Preprocessing.to_dict()``: scaler means and scales): the
    #: graph takes and gives model units, so raw values are scaled with these first
    preprocessing: dict[str, Any] | None = None
    task: str | None = None

    def initial_state(self, batch_size: int | None = None) -> list[Any]:
        """The flat initial state as numpy arrays, from the recorded shapes and fills."""
        if None in self.state_fills:
            raise OnnxError("the initial state is not constant: take it from the PyTorch model")
        batch = self.batch_size if batch_size is None else batch_size
        shapes = [[batch if d == "batch" else int(d) for d in shape] for shape in self.state_shapes]
        fills = [v for v in self.state_fills if v is not None]  # all of them (checked above)
        specs = zip(shapes, fills, self.state_dtypes, strict=True)
        return [torch.full(shape, float(v)).numpy().astype(dtype) for shape, v, dtype in specs]


def read_export_info(path: str | os.PathLike[str]) -> ExportInfo:
    """Read the :class:`ExportInfo` that :func:`export_onnx` stored in an ``.onnx`` file."""
    proto = _require("onnx").load(os.fspath(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    data = json.loads(props.get(METADATA_KEY, "{}"))
    if data.pop("format", None) != FORMAT:
        raise OnnxError(f"{os.fspath(path)!r} holds no {FORMAT} metadata (not from export_onnx)")
    return ExportInfo(**data)


def _preprocessing_of(model: nn.Module) -> dict[str, Any] | None:
    preprocessing = getattr(model, "preprocessing", None)
    return (
        preprocessing.to_dict()
        if preprocessing is not None and hasattr(preprocessing, "to_dict")
        else None
    )


class _StepGraph(nn.Module):
    """``model.step`` over flat tensors: exporters take flat arguments, not nested states."""

    def __init__(self, model: SequenceModule, tree: StateTree) -> None:
        super().__init__()
        self.model = model
        self.tree = tree

    def forward(self, x: Tensor, *leaves: Tensor) -> tuple[Tensor, ...]:
        y, state = self.model.step(x, unflatten_state(self.tree, list(leaves)))
        return (y, *flatten_state(state)[0])


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode (dropout off, BatchNorm on running statistics) and no autograd, then restore."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporter chatter (deprecations, tracer warnings on shape checks, logs, graphs
    printed on failure): errors say what failed, :func:`verify_onnx` checks a result."""
    logger = logging.getLogger("torch")  # torch's own loggers inherit its level
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _summary(exc: BaseException) -> str:
    text = str(exc).split("Exception summary")[-1]  # torch.export's long message: keep its core
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    return f"{type(exc).__name__}: {lines[0][:300]}"


def _fill(leaf: Tensor) -> float | str | None:
    """The value every element of ``leaf`` holds, or None when they differ."""
    value = float(leaf.reshape(-1)[0]) if leaf.numel() else 0.0
    if leaf.numel() and not bool((leaf == value).all()):
        return None
    return value if math.isfinite(value) else str(value)


def _batch_axes(model: SequenceModule, batch: int, leaves: list[Tensor], tree: StateTree) -> list:
    """Each state tensor's batch axis (or None): where ``initial_state(batch + 1)`` differs."""
    bigger, bigger_tree = flatten_state(model.initial_state(batch + 1))
    if bigger_tree != tree:
        raise OnnxError("the state's structure depends on the batch size: pass dynamic_batch=False")
    axes: list[int | None] = []
    for i, (a, b) in enumerate(zip(leaves, bigger, strict=True)):
        differ = [d for d in range(a.dim()) if a.dim() == b.dim() and a.shape[d] != b.shape[d]]
        if a.dim() != b.dim() or len(differ) > 1 or any(b.shape[d] != batch + 1 for d in differ):
            raise OnnxError(f"cannot find the batch axis of state_{i}: pass dynamic_batch=False")
        axes.append(differ[0] if differ else None)
    return axes


def export_onnx(
    model: SequenceModule,
    path: str | os.PathLike[str],
    *,
    batch_size: int = 1,
    opset: int | None = None,
    dynamic_batch: bool = True,
    exporter: str = "auto",
) -> ExportInfo:
    """Export ``model.step`` to ``path`` (see the module docstring), complete or not at all.

    ``batch_size``: the example batch, the only one the file takes unless ``dynamic_batch``.
    ``exporter``: ``"torchscript"`` (``torch.onnx.export(dynamo=False)``), ``"dynamo"``, or
    ``"auto"``: TorchScript, then dynamo if it fails. ``opset``: None for the exporter's default.
    Raises :class:`NotSteppableError` for a non-causal model, :class:`OnnxError` on failure.
    """
    if getattr(model, "causal", True) is False or not hasattr(model, "step"):
        raise NotSteppableError(
            f"cannot export {type(model).__name__} to ONNX: the export runs one time step at a "
            "time, which needs a causal model (no bidirectional layer, no centred convolution)"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise OnnxError(f"batch_size must be a positive integer, got {batch_size!r}")
    if exporter not in ("auto", "torchscript", "dynamo"):
        raise OnnxError(f"exporter must be 'auto', 'torchscript' or 'dynamo', not {exporter!r}")
    onnx = _require("onnx")
    target = Path(path)
    ref = next((p for p in model.parameters() if p.is_floating_point()), torch.zeros(()))
    ids = getattr(model, "input_kind", "real") == "ids"

    def example(batch: int) -> Tensor:
        if ids:
            return torch.zeros(batch, dtype=torch.int64, device=ref.device)
        seeded = torch.Generator().manual_seed(0)
        size = cast(int, model.input_size)  # a real-valued model states its feature count
        return torch.randn(batch, size, generator=seeded).to(ref)

    with _inference(model):
        # an eager step first: clearer errors than an exporter's; the state must keep its form
        try:
            leaves, tree = flatten_state(model.initial_state(batch_size))
            _, after = model.step(example(batch_size), unflatten_state(tree, leaves))
        except NotSteppableError as exc:
            raise NotSteppableError(f"ONNX step export needs a steppable model: {exc}") from None
        except Exception as exc:
            raise OnnxError(f"model.step failed on an example input: {_summary(exc)}") from exc
        next_leaves, next_tree = flatten_state(after)
        if next_tree != tree or [t.shape for t in next_leaves] != [t.shape for t in leaves]:
            raise OnnxError("the state changes form after a step; keep it like initial_state()")
        axes = _batch_axes(model, batch_size, leaves, tree) if dynamic_batch else None
        # torch.export makes a size-1 axis a constant, so trace a dynamic batch at 2 or more
        trace_batch = max(batch_size, 2) if dynamic_batch else batch_size
        args = (example(trace_batch), *flatten_state(model.initial_state(trace_batch))[0])
        states = [f"state_{i}" for i in range(len(leaves))]
        names = (["x", *states], ["y", *(f"next_{name}" for name in states)])
        graph = _StepGraph(model, tree)
        failures: list[str] = []
        proto = used = last = None
        for name in ("torchscript", "dynamo") if exporter == "auto" else (exporter,):
            try:
                with _quiet():
                    proto, used = _convert(name, graph, args, names, axes, opset), name
                break
            except Exception as exc:  # the exporters raise many types; report each one's reason
                failures.append(f"{name}: {_summary(exc)}")
                last = exc
    if proto is None:
        raise OnnxError(f"ONNX export of model.step failed: {'; '.join(failures)}") from last
    found = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if found != names:
        raise OnnxError(f"the {used} exporter named the graph's inputs and outputs {found}")

    def shape(t: Tensor, axis: int | None) -> list[int | str]:
        return ["batch" if d == axis else n for d, n in enumerate(t.shape)]

    axes = axes or [None] * len(leaves)
    info = ExportInfo(
        registry_name=getattr(model, "registry_name", None),
        config=json.loads(json.dumps(getattr(model, "config", None), default=str)),
        input_kind="ids" if ids else "real",
        input_shape=shape(example(batch_size), 0 if dynamic_batch else None),
        input_dtype="int64" if ids else str(ref.dtype).removeprefix("torch."),
        input_names=names[0],
        output_names=names[1],
        state_tree=tree,
        state_shapes=[shape(t, a) for t, a in zip(leaves, axes, strict=True)],
        state_dtypes=[str(t.dtype).removeprefix("torch.") for t in leaves],
        state_fills=[_fill(t) for t in leaves],
        batch_size=batch_size,
        dynamic_batch=dynamic_batch,
        exporter=str(used),
        opset=next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        preprocessing=_preprocessing_of(model),
        task=(getattr(model, "pretrained_config", None) or {}).get("task"),
    )
    meta = proto.metadata_props.add()
    meta.key, meta.value = METADATA_KEY, json.dumps({"format": FORMAT, **dataclasses.asdict(info)})
    # a temporary file beside the target, fsync'd, then a rename: never a half-written .onnx;
    # a full disk or a read-only folder is a StorageError naming the path and the cause
    try:
        write_file_atomic(
            target,
            lambda temporary: onnx.save_model(proto, os.fspath(temporary)),  # one file: < 2 GB
            action="export the model to",
        )
    except StorageError as exc:
        raise OnnxStorageError(str(exc), errno=exc.errno, path=exc.path, kept=exc.kept) from exc
    except Exception as exc:  # the serializer's own failures (a graph over 2 GB, ...)
        raise OnnxError(f"could not write {str(target)!r}: {_summary(exc)}") from exc
    return info


def _convert(
    exporter: str,
    graph: nn.Module,
    args: tuple[Tensor, ...],
    names: tuple[list[str], list[str]],
    axes: list[int | None] | None,
    opset: int | None,
) -> Any:
    """Run one exporter; return the ModelProto. ``axes``: the states' batch axes, None: fixed."""
    kw: dict[str, Any] = {"input_names": names[0], "output_names": names[1], "opset_version": opset}
    if exporter == "torchscript":
        if axes is not None:
            # x and y are batch-first
            pairs = zip([*names[0], *names[1]], [0, *axes] * 2, strict=True)
            kw["dynamic_axes"] = {name: {a: "batch"} for name, a in pairs if a is not None}
        buffer = io.BytesIO()
        torch.onnx.export(graph, args, buffer, dynamo=False, **kw)  # type: ignore[arg-type]  # torch stubs omit the file-like f that torchscript takes
        return _require("onnx").load_from_string(buffer.getvalue())
    _require("onnxscript")  # the dynamo exporter translates through onnxscript
    if axes is not None:
        batch = torch.export.Dim("batch")
        states = tuple(None if a is None else {a: batch} for a in axes)
        # forward(x, *leaves): torch.export sees the varargs as one tuple
        kw["dynamic_shapes"] = ({0: batch}, states) if axes else ({0: batch},)
    program = torch.onnx.export(graph, args, dynamo=True, verbose=False, **kw)
    assert program is not None  # the dynamo exporter always returns its program
    return program.model_proto


def _max_difference(got: Any, want: Tensor) -> float:
    got, want = torch.from_numpy(got).double(), want.detach().cpu().double()
    if got.shape != want.shape:
        return math.inf
    same = (got == want) | (got.isnan() & want.isnan())  # equal infinities are no difference
    difference = torch.where(same, 0.0, (got - want).abs()).nan_to_num(math.inf)
    return float(difference.max()) if difference.numel() else 0.0


def verify_onnx(
    model: SequenceModule,
    path: str | os.PathLike[str],
    steps: int = 20,
    seed: int = 0,
    atol: float | None = 1e-5,
    *,
    batch_size: int | None = None,
) -> float:
    """Run the file in onnxruntime beside ``model.step`` for ``steps`` seeded random steps, each
    feeding its state back; return the largest absolute difference in outputs and states.
    Raises :class:`OnnxMismatchError` at the first step past ``atol`` (None: never raises).
    ``batch_size``: the exported one by default; another one checks a dynamic batch axis."""
    ort = _require("onnxruntime")
    info = read_export_info(path)
    batch = info.batch_size if batch_size is None else batch_size
    if batch != info.batch_size and not info.dynamic_batch:
        raise OnnxError(f"{os.fspath(path)!r} was exported for batch {info.batch_size} only")
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    vocab = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)] or [2]
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    with _inference(model):
        state = model.initial_state(batch)
        flat = [t.cpu().numpy() for t in flatten_state(state)[0]]
        for t in range(steps):
            if info.input_kind == "ids":
                x = torch.randint(0, vocab[0], (batch,), generator=generator)
            else:
                x = torch.randn(batch, int(info.input_shape[1]), generator=generator)
                x = x.to(getattr(torch, info.input_dtype))
            y, state = model.step(x.to(device), state)
            feeds = dict(zip(info.input_names, [x.numpy(), *flat], strict=True))
            outputs = session.run(info.output_names, feeds)
            flat = outputs[1:]
            expected = [y, *flatten_state(state)[0]]
            step = max(map(_max_difference, outputs, expected), default=0.0)
            worst = max(worst, step)
            if atol is not None and step > atol:
                where = f"at step {t} of {os.fspath(path)!r}"
                raise OnnxMismatchError(f"ONNX and PyTorch differ by {step:.3g} {where}")
    return worst
