"""``check_layer``, ``check_optimizer`` and ``check_schedule`` (see :mod:`seqzoo.testing`)."""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ._common import (
    SEED,
    Checker,
    Report,
    Skip,
    assert_close,
    check_state_form,
    get_spec,
    resolve_registry,
    seeded,
    shrink,
)
from ._models import _refuses, _same_weights

__all__ = ["check_layer", "check_optimizer", "check_schedule"]

BATCH = 3
TIME = 16
STEPS = 5
#: The sub-checks ``skip_checks`` may name.
LAYER_CHECKS = (
    "determinism",
    "float64",
    "step",
    "not steppable",
    "wrong input",
    "gradients",
    "save/load",
)
ROUND_TRIP = ("state_dict round trip",)

#: Configs for built-in layers whose required arguments have no generic tiny value.
LAYER_SAMPLES: dict[str, dict[str, Any]] = {
    "seqzoo.plugins.layers.blocks:Residual": {"body": [{"layer": "gru", "hidden_size": 3}]},
    "seqzoo.plugins.layers.blocks:Parallel": {
        "branches": [[{"layer": "conv1d", "channels": 2}], {"layer": "tanh"}]
    },
    "seqzoo.plugins.layers.blocks:Bidirectional": {"body": [{"layer": "gru", "hidden_size": 4}]},
    "seqzoo.plugins.layers.patching:PatchEmbedding": {"input_size": 2},
    "seqzoo.plugins.layers.sequence:Conv1d": {"channels": 4},
    "seqzoo.plugins.layers.forecasting:ForecastBlock": {
        "body": [
            {"layer": "gru", "hidden_size": 4},
            {"layer": "last"},
            {"layer": "linear", "out_features": 1},
        ],
        "difference": 1,
        "ar_order": 2,
    },
}


def _layer_inputs(layer: Any, input_size: int | None, seed: int) -> Tensor:
    if getattr(layer, "takes_ids", False):
        vocab = int(getattr(layer, "input_size", 0) or 0)
        if vocab < 2:
            raise AssertionError("an ids layer must report input_size = its vocabulary size")
        return torch.randint(1, vocab, (BATCH, TIME), generator=seeded(seed))
    return torch.randn(BATCH, TIME, int(input_size or 0), generator=seeded(seed))


def check_layer(
    name: str,
    /,
    *,
    input_size: int | None = None,
    registry: Any = None,
    skip_checks: Iterable[str] = (),
    **config: Any,
) -> Report:
    """Check the registered layer ``name``: built by :func:`seqzoo.compose` (a one-layer hybrid)
    from ``input_size`` (default 3) and a tiny config; raise AssertionError naming what failed.

    Sub-checks: ``build``, ``shape flow`` (``output_size`` matches the output; pointwise layers
    also take one step ``(batch, features)``) and those ``skip_checks`` may name,
    :data:`LAYER_CHECKS`: ``determinism``, ``float64``, ``step`` (step by step equals the whole
    sequence and keeps the form of ``initial_state``), ``not steppable`` (instead of ``step``
    for a non-causal layer: step raises NotSteppableError), ``wrong input``, ``gradients``,
    ``save/load`` (through the hybrid).
    """
    from seqzoo.core.compose import compose
    from seqzoo.core.errors import NotSteppableError

    registry = resolve_registry(registry)
    spec = get_spec(registry, "layer", name)
    sample = dict(LAYER_SAMPLES.get(spec.factory_path, {}))
    config = shrink(spec, config, sample)
    given_size = config.pop("input_size", None)
    size = input_size if input_size is not None else (given_size or 3)
    layer_spec = [{"layer": name, **config}]
    checker = Checker(spec, {"input_size": size, **config}, skip_checks, LAYER_CHECKS)

    def build() -> Any:
        factory = spec.load()
        ids = getattr(factory, "takes_ids", False)
        return compose(layer_spec, None if ids else size, registry=registry).eval()

    with checker.check("build"):
        torch.manual_seed(SEED)
        hybrid = build()
        layer = hybrid.body.steps[0]
        x = _layer_inputs(layer, size, SEED)

    with checker.check("shape flow"):
        output_size = getattr(layer, "output_size", None)
        if not isinstance(output_size, int) or output_size < 1:
            raise AssertionError(f"the layer must state output_size (an int), not {output_size!r}")
        with torch.no_grad():
            out = layer(x)
        if not isinstance(out, Tensor) or not out.is_floating_point():
            raise AssertionError(f"forward must return a float tensor, got {out!r:.80}")
        rank = 2 if layer.reduces_time else 3
        if out.dim() != rank or out.shape[0] != BATCH or out.shape[-1] != output_size:
            raise AssertionError(
                f"an input of shape {tuple(x.shape)} gave shape {tuple(out.shape)}; expected "
                f"(batch, {'' if layer.reduces_time else 'time, '}{output_size}) from "
                f"output_size={output_size}, reduces_time={layer.reduces_time}"
            )
        if not bool(torch.isfinite(out).all()):
            raise AssertionError("the output holds NaN or infinity")
        if not layer.needs_sequence and not layer.takes_ids:
            with torch.no_grad():
                point = layer(x[:, 0])
            assert_close(point, out[:, 0], "needs_sequence=False, but forward on (batch, features)")

    if checker.wants("determinism"):
        with checker.check("determinism"):
            torch.manual_seed(SEED + 1)
            first = build()
            torch.manual_seed(SEED + 1)
            _same_weights(build(), first, "two layers built under the same torch seed")

    if checker.wants("float64"):
        with checker.check("float64"):
            wide = copy.deepcopy(layer).to(torch.float64)
            with torch.no_grad():
                wide_out = wide(x.double() if x.is_floating_point() else x)
            if wide_out.dtype != torch.float64:
                raise AssertionError(f"after .to(torch.float64) the output is {wide_out.dtype}")
            assert_close(wide_out.float(), out, "the float64 output", atol=1e-4, rtol=1e-3)

    if not getattr(layer, "causal", True):
        checker.report.skipped["step"] = "not causal"
        if checker.wants("not steppable"):
            with checker.check("not steppable"):
                try:
                    with torch.no_grad():
                        layer.step(x[:, 0], None)
                except NotSteppableError:
                    pass
                except Exception as exc:
                    raise AssertionError(
                        f"causal is False, so step must raise NotSteppableError; it raised "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                else:
                    raise AssertionError("causal is False, but step ran without an error")
    elif checker.wants("step"):
        with checker.check("step"):
            with torch.no_grad():
                state = layer.initial_state(BATCH)
                outputs = []
                for t in range(TIME):
                    y, state = layer.step(x[:, t], state)
                    outputs.append(y)
            stepped = torch.stack(outputs, dim=1)
            if layer.reduces_time:
                stepped = stepped[:, -1]
            assert_close(stepped, out, "step by step vs the whole sequence")
            check_state_form(layer, x[:, 0], BATCH)

    if checker.wants("wrong input"):
        with checker.check("wrong input"):
            if layer.takes_ids:
                wrong = [("float ids", x.float()), ("ids of rank 3", x.unsqueeze(-1))]
            else:
                wider = torch.randn(BATCH, TIME, x.shape[-1] + 1)
                wrong = [(f"{x.shape[-1] + 1} features", wider)]
            for what, bad in wrong:
                _refuses(lambda bad=bad: layer(bad), f"forward on {what}")

    if checker.wants("gradients"):
        with checker.check("gradients"):
            parameters = [p for p in layer.parameters() if p.requires_grad]
            if not parameters:
                raise Skip("the layer has no parameters")
            student = copy.deepcopy(layer).train()
            student(x).square().mean().backward()
            if not any(
                p.grad is not None and bool(p.grad.abs().sum() > 0) for p in student.parameters()
            ):
                raise AssertionError("no parameter got a gradient from the output")

    if checker.wants("save/load"):
        with checker.check("save/load"):
            from seqzoo.zoo.pretrained import from_pretrained, save_pretrained

            with torch.no_grad():
                whole = hybrid(x)
            with tempfile.TemporaryDirectory(prefix="seqzoo-check-") as tmp:
                directory = save_pretrained(hybrid, Path(tmp) / "hybrid", registry=registry)
                loaded = from_pretrained(directory, device="cpu", registry=registry)
            _same_weights(loaded, hybrid, "the loaded hybrid")
            with torch.no_grad():
                assert_close(loaded(x), whole, "the loaded hybrid's output", atol=1e-6, rtol=1e-6)
    return checker.report


# -- optimizers and schedules ---------------------------------------------------------------


class _Problem:
    """A least-squares problem with known minimum 0: dense 2-D weights (every optimizer takes
    them, Muon included) or a sparse embedding (SparseAdam's kind of gradient)."""

    def __init__(self, sparse: bool, seed: int) -> None:
        generator = seeded(seed)
        self.sparse = sparse
        if sparse:
            self.module: nn.Embedding | nn.Linear = nn.Embedding(10, 3, sparse=True)
            nn.init.normal_(self.module.weight, generator=generator)
            self.inputs = torch.randint(0, 10, (16,), generator=generator)
            self.targets = torch.randn(16, 3, generator=generator)
        else:
            self.module = nn.Linear(3, 4, bias=False)
            nn.init.normal_(self.module.weight, generator=generator)
            self.inputs = torch.randn(16, 3, generator=generator)
            self.targets = self.inputs @ torch.randn(4, 3, generator=generator).T

    def loss(self) -> Tensor:
        return nn.functional.mse_loss(self.module(self.inputs), self.targets)

    def closure(self, optimizer: Any) -> Callable[[], Tensor]:
        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = self.loss()
            loss.backward()
            return loss

        return closure

    def twin(self) -> _Problem:
        return copy.deepcopy(self)


def _wants_sparse(spec: Any) -> bool:
    return str(spec.metadata.get("gradients", "dense")) == "sparse"


def _run(problem: _Problem, optimizer: Any, steps: int, after: Callable[[float], None]) -> None:
    for _ in range(steps):
        loss = optimizer.step(problem.closure(optimizer))
        value = float(loss.detach()) if loss is not None else float(problem.loss().detach())
        if not math.isfinite(value):
            raise AssertionError(f"the loss became {value}")
        after(value)


def check_optimizer(
    name: str, /, *, registry: Any = None, skip_checks: Iterable[str] = (), **config: Any
) -> Report:
    """Check the registered optimizer ``name`` (``factory(params, **config)``) on a tiny
    least-squares problem: a few steps lower the loss, and a state_dict round trip continues
    exactly as the original does. Every step gets a closure (L-BFGS needs one). The weights
    are 2-D matrices (Muon takes nothing else); an optimizer whose record has
    ``metadata["gradients"] == "sparse"``, or that refuses dense gradients, gets a sparse
    embedding instead (SparseAdam). ``skip_checks`` may name ``state_dict round trip``."""
    registry = resolve_registry(registry)
    spec = get_spec(registry, "optimizer", name)
    checker = Checker(spec, {**spec.defaults, **config}, skip_checks, ROUND_TRIP)
    problem = _Problem(_wants_sparse(spec), SEED)

    def make(target: _Problem) -> Any:
        return registry.create("optimizer", name, params=target.module.parameters(), **config)

    with checker.check("build"):
        optimizer = make(problem)
        for attribute in ("step", "zero_grad", "state_dict", "load_state_dict", "param_groups"):
            if not hasattr(optimizer, attribute):
                raise AssertionError(f"the optimizer has no {attribute} (subclass torch Optimizer)")

    with checker.check("lowers the loss"):
        before = float(problem.loss().detach())
        try:
            _run(problem, optimizer, STEPS, lambda _: None)
        except RuntimeError as exc:
            if problem.sparse or "sparse" not in str(exc).lower():
                raise
            # it wants sparse gradients: say so in metadata={"gradients": "sparse"}
            problem = _Problem(True, SEED)
            optimizer = make(problem)
            before = float(problem.loss().detach())
            _run(problem, optimizer, STEPS, lambda _: None)
            checker.report.skipped["dense gradients"] = f"refused ({exc}); checked sparse ones"
        after = float(problem.loss().detach())
        if not after < before:
            raise AssertionError(
                f"{STEPS} steps with {config or 'the defaults'} did not lower a least-squares loss: "
                f"{before:.4g} -> {after:.4g}"
            )

    if checker.wants("state_dict round trip"):
        with checker.check("state_dict round trip"):
            twin = problem.twin()
            restored = make(twin)
            restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))
            _run(problem, optimizer, 2, lambda _: None)
            _run(twin, restored, 2, lambda _: None)
            assert_close(
                twin.module.weight.detach(),
                problem.module.weight.detach(),
                "the weights after 2 more steps from the restored state",
                atol=1e-6,
                rtol=1e-6,
            )
    return checker.report


def _lrs(optimizer: Any) -> list[float]:
    return [float(group["lr"]) for group in optimizer.param_groups]


def check_schedule(
    name: str, /, *, registry: Any = None, skip_checks: Iterable[str] = (), **config: Any
) -> Report:
    """Check the registered schedule ``name`` (``factory(optimizer, **config)``) over SGD on a
    tiny least-squares problem: it states when it steps (``interval`` "epoch" or "batch"),
    a few steps lower the loss with finite positive learning rates, and a state_dict round
    trip gives the same learning rates afterwards. A schedule whose record has
    ``metadata["monitored"]`` steps with the loss (as ReduceLROnPlateau does). ``skip_checks``
    may name ``state_dict round trip``."""
    from seqzoo.core.training import schedule_interval

    registry = resolve_registry(registry)
    spec = get_spec(registry, "schedule", name)
    checker = Checker(spec, {**spec.defaults, **config}, skip_checks, ROUND_TRIP)
    problem = _Problem(False, SEED)

    def make(target: _Problem) -> tuple[Any, Any]:
        optimizer = torch.optim.SGD(target.module.parameters(), lr=0.1)
        return optimizer, registry.create("schedule", name, optimizer=optimizer, **config)

    monitored = bool(spec.metadata.get("monitored", False))

    def stepper(schedule: Any) -> Callable[[float], None]:
        return (lambda loss: schedule.step(loss)) if monitored else (lambda _: schedule.step())

    with checker.check("build"):
        optimizer, schedule = make(problem)
        interval = schedule_interval(schedule)
        stated = spec.metadata.get("interval")
        if stated is not None and stated != interval:
            raise AssertionError(
                f"the record's metadata says interval={stated!r}, the schedule steps per {interval}"
            )
        for attribute in ("step", "state_dict", "load_state_dict"):
            if not hasattr(schedule, attribute):
                raise AssertionError(f"the schedule has no {attribute}")

    with checker.check("lowers the loss"):
        before = float(problem.loss().detach())
        seen: list[list[float]] = []

        def after(loss: float) -> None:
            stepper(schedule)(loss)
            seen.append(_lrs(optimizer))

        _run(problem, optimizer, STEPS, after)
        bad = [lr for lrs in seen for lr in lrs if not (math.isfinite(lr) and lr >= 0)]
        if bad:
            raise AssertionError(f"the schedule set learning rates {bad}")
        after_loss = float(problem.loss().detach())
        if not after_loss < before:
            raise AssertionError(f"the loss did not fall: {before:.4g} -> {after_loss:.4g}")

    if checker.wants("state_dict round trip"):
        with checker.check("state_dict round trip"):
            twin = problem.twin()
            twin_optimizer, twin_schedule = make(twin)
            twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
            twin_schedule.load_state_dict(copy.deepcopy(schedule.state_dict()))
            if _lrs(twin_optimizer) != _lrs(optimizer):
                raise AssertionError(
                    f"restored learning rates {_lrs(twin_optimizer)} differ from {_lrs(optimizer)}"
                )
            mine: list[list[float]] = []
            theirs: list[list[float]] = []

            def ours(loss: float) -> None:
                stepper(schedule)(loss)
                mine.append(_lrs(optimizer))

            def restored(loss: float) -> None:
                stepper(twin_schedule)(loss)
                theirs.append(_lrs(twin_optimizer))

            _run(problem, optimizer, 3, ours)
            _run(twin, twin_optimizer, 3, restored)
            if mine != theirs:
                raise AssertionError(f"after restoring, learning rates {theirs} differ from {mine}")
    return checker.report
