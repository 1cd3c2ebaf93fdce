"""seqzoo.testing, the conformance kit for plugin authors: every built-in model, layer,
dataset, optimizer, schedule, trainer and zoo entry passes it, the example plugin does (bar its
known gaps), and each check fails on a deliberately broken plugin."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

import seqzoo
import seqzoo.plugins.datasets
import seqzoo.plugins.datasets.synthetic
import seqzoo.plugins.models
import seqzoo.plugins.optimizers
import seqzoo.plugins.trainers
import seqzoo.plugins.training_loops
import seqzoo.testing
from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.modules import Layer, SequenceModel, check_sequence, check_step
from seqzoo.core.registry import Registry
from seqzoo.testing import (
    Report,
    check_dataset,
    check_layer,
    check_model,
    check_optimizer,
    check_schedule,
    check_trainer,
    check_zoo_entry,
    model_inputs,
    parametrize_registered,
    registered_names,
)
from seqzoo.zoo import catalogue
from seqzoo.zoo.hub import file_sha256

#: Built-in layers that do not check their input yet: a wrong feature count reaches torch
#: and fails there with a bare RuntimeError instead of a ShapeError.
UNCHECKED_LAYERS: set[str] = set()
HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ran(report: Report, *names: str) -> None:
    """The report says these sub-checks ran and passed (so a skip cannot hide a failure)."""
    missing = [n for n in names if n not in report.passed]
    assert not missing, f"{missing} did not run: {report}"


# -- every built-in -------------------------------------------------------------------------


@parametrize_registered("model", plugin="seqzoo")
def test_every_builtin_model_conforms(name: str) -> None:
    report = check_model(name)
    _ran(report, "build", "output", "config round trip", "determinism", "float64")
    _ran(report, "wrong input", "save/load", "training")
    if report.skipped.get("step") != "not causal":
        _ran(report, "step", "state form", "chunks", *(["onnx"] if HAS_ONNX else []))
    else:
        _ran(report, "not steppable")


@parametrize_registered("layer", plugin="seqzoo")
def test_every_builtin_layer_conforms(name: str) -> None:
    skip = {"wrong input"} if name in UNCHECKED_LAYERS else set()
    report = check_layer(name, skip_checks=skip)
    _ran(report, "build", "shape flow", "determinism", "float64", "save/load")
    _ran(report, "not steppable" if report.skipped.get("step") == "not causal" else "step")


def test_residual_mlp_refuses_a_wrong_feature_count() -> None:
    _ran(check_layer("residual-mlp"), "wrong input")


def _data_files(root: Path) -> dict[str, dict[str, Any]]:
    """Configs for the datasets that read a file, with tiny files written under ``root``."""
    series = root / "series.csv"
    series.write_text(
        "t,load,temp\n" + "".join(f"{i},{(7 * i) % 13},{i % 5}\n" for i in range(80)),
        encoding="utf-8",
    )
    texts = root / "texts.csv"
    rows = [("good fine nice", "pos"), ("bad awful poor", "neg")]
    texts.write_text(
        "text,label\n"
        + "".join(f"{rows[i % 2][0]} item {i},{rows[i % 2][1]}\n" for i in range(40)),
        encoding="utf-8",
    )
    return {
        "csv": {"path": str(series), "target": "load", "features": ["temp"], "window": 6},
        "text-classification": {"path": str(texts), "seq_len": 8},
    }


@parametrize_registered("dataset", plugin="seqzoo")
def test_every_builtin_dataset_conforms(name: str, tmp_path: Path) -> None:
    report = check_dataset(name, **_data_files(tmp_path).get(name, {}))
    _ran(report, "build", "task and sizes", "splits", "determinism")


@parametrize_registered("optimizer", plugin="seqzoo")
def test_every_builtin_optimizer_conforms(name: str) -> None:
    report = check_optimizer(name)
    _ran(report, "build", "lowers the loss", "state_dict round trip")
    # SparseAdam takes sparse gradients only; every other one is checked on dense weights
    assert ("dense gradients" in report.skipped) == (name == "sparseadam")


@parametrize_registered("schedule", plugin="seqzoo")
def test_every_builtin_schedule_conforms(name: str) -> None:
    _ran(check_schedule(name), "build", "lowers the loss", "state_dict round trip")


@parametrize_registered("trainer", plugin="seqzoo")
def test_every_builtin_trainer_conforms(name: str) -> None:
    _ran(check_trainer(name), "train", "history", "loads back")


@parametrize_registered("zoo", plugin="seqzoo")
def test_every_bundled_zoo_entry_conforms(name: str) -> None:
    _ran(check_zoo_entry(name), "files", "loads", "card", "reference")


def test_parametrize_registered_lists_a_kind_by_plugin() -> None:
    mark = parametrize_registered("schedule", plugin="seqzoo")
    assert mark.args == ("name", registered_names("schedule"))
    assert mark.kwargs["ids"] == ["cosine", "onecycle", "plateau", "step", "warmup"]
    # a built-in plugin's own name selects it too; another plugin's selects nothing of it
    assert registered_names("model", plugin="seqzoo.plugins.models") == registered_names("model")
    assert registered_names("model", plugin="seqzoo.plugins.layers") == []
    assert registered_names("model", plugin="no-such-plugin") == []


# -- the example plugin ---------------------------------------------------------------------


def test_the_example_plugin_conforms_bar_its_known_gaps(
    example_plugin_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(example_plugin_site))
    registry = Registry()
    assert registered_names("model", plugin="seqzoo-tcn", registry=registry) == ["tcn"]
    assert registered_names("layer", plugin="seqzoo-tcn", registry=registry) == ["tcn-block"]

    # the model steps from its own initial_state, and streams chunk by chunk through the base
    # class's default forward_stateful (a loop over step)
    report = check_model("tcn", registry=registry)
    _ran(report, "step", "chunks", "state form", "config round trip", "save/load", "training")
    _ran(report, "wrong input")
    _ran(check_layer("tcn-block", registry=registry), "step", "save/load", "wrong input")


# -- each check can fail --------------------------------------------------------------------


class Tiny(SequenceModel):
    """A correct per-step linear model (output="last"): the control for the broken ones."""

    def __init__(self, input_size: int, output_size: int = 1) -> None:
        super().__init__()
        self._remember_config(locals())
        self.input_size, self.output_size, self.output = input_size, output_size, "last"
        self.linear = nn.Linear(input_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(check_sequence(x, self.input_size, "tiny"))[:, -1]

    def forward_stateful(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self(x), None

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self.linear(check_step(x, self.input_size, "tiny")), None


class NeedsWidth(Tiny):
    """A required argument no check can guess: its record gives an example config."""

    def __init__(self, input_size: int, width: int) -> None:
        super().__init__(input_size, width)
        self._remember_config(locals())


class StepDiffers(Tiny):
    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        y, state = super().step(x, state)
        return y + 1, state


class LosesBuffer(Tiny):
    """A random offset kept in a non-persistent buffer: not saved, so a loaded copy differs."""

    def __init__(self, input_size: int, output_size: int = 1) -> None:
        super().__init__(input_size, output_size)
        self.register_buffer("offset", torch.randn(output_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + self.offset

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        y, state = super().step(x, state)
        return y + self.offset, state


class BareErrors(nn.Module):
    """Not a SequenceModel (whose subclasses get their inputs checked): checks nothing."""

    def __init__(self, input_size: int, output_size: int = 1) -> None:
        super().__init__()
        self.config = {"input_size": input_size, "output_size": output_size}
        self.input_size, self.output_size, self.output = input_size, output_size, "last"
        self.linear = nn.Linear(input_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)[:, -1]  # torch fails on a wrong size

    def initial_state(self, batch_size: int, **kwargs: Any) -> None:
        return None

    def forward_stateful(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self(x), None

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self.linear(x), None


class ForgetsConfig(Tiny):
    def __init__(self, input_size: int, output_size: int = 1) -> None:
        super().__init__(input_size, output_size)
        self._config = {"input_size": input_size + 1, "output_size": output_size}  # a wrong size


class WrongStepError(Tiny):
    causal = False

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        raise NotImplementedError("no stepping")


class Nondeterministic(Tiny):
    def __init__(self, input_size: int, output_size: int = 1) -> None:
        super().__init__(input_size, output_size)
        with torch.no_grad():  # its own unseeded generator: the torch seed does not apply
            self.linear.weight.copy_(torch.randn(self.linear.weight.shape, generator=_fresh()))


def _fresh() -> torch.Generator:
    generator = torch.Generator()
    generator.seed()
    return generator


class Frozen(Tiny):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).detach()


class WrongShape(Tiny):
    def forward(self, x: Tensor) -> Tensor:
        return self.linear(check_sequence(x, self.input_size, "tiny"))  # every step, not last


class LyingLayer(Layer):
    """States output_size 5, gives 4 features."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, 5
        self.linear = nn.Linear(input_size, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(check_sequence(x, self.input_size, "lying"))


class StepsWrongLayer(LyingLayer):
    """Right sizes, but each step adds one."""

    def __init__(self, input_size: int) -> None:
        super().__init__(input_size)
        self.output_size = 4

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self.linear(check_step(x, self.input_size, "steps-wrong")) + 1, state


class ForgetfulOptimizer(torch.optim.Adam):
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass  # drops the moments: a restored run continues differently


def _standstill(params: Any, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.0)


def _negative(optimizer: torch.optim.Optimizer) -> Any:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: -1.0)


def _noisy(seed: int = 0) -> Any:
    data = seqzoo.plugins.datasets.synthetic.sine(length=200, window=8, seed=seed)
    noise = torch.randn(data.train.inputs.shape, generator=_fresh())  # unseeded
    data.train.inputs = data.train.inputs + noise
    return data


def _with_nan(seed: int = 0) -> Any:
    data = seqzoo.plugins.datasets.synthetic.sine(length=200, window=8, seed=seed)
    inputs = data.train.inputs.clone()
    inputs[0, 0, 0] = float("nan")
    data.train.inputs = inputs
    return data


class Broken:
    """A plugin of broken things (and the correct ``tiny``, the control)."""

    SEQZOO_HOOK_API = 1

    @hookimpl
    def register_models(self, register: Any) -> None:
        register("tiny", Tiny)
        register("needs-width", NeedsWidth, metadata={"example_config": {"width": 2}})
        for name, factory in (
            ("step-differs", StepDiffers),
            ("loses-buffer", LosesBuffer),
            ("bare-errors", BareErrors),
            ("forgets-config", ForgetsConfig),
            ("wrong-step-error", WrongStepError),
            ("nondeterministic", Nondeterministic),
            ("frozen", Frozen),
            ("wrong-shape", WrongShape),
        ):
            register(name, factory)

    @hookimpl
    def register_layers(self, register: Any) -> None:
        register("lying", LyingLayer)
        register("steps-wrong", StepsWrongLayer)

    @hookimpl
    def register_optimizers(self, register: Any, register_schedule: Any) -> None:
        register("standstill", _standstill)
        register("forgetful", ForgetfulOptimizer, defaults={"lr": 1e-2})
        register_schedule("negative", _negative)
        register_schedule("says-batch", _negative, interval="batch")

    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register("noisy", _noisy)
        register("with-nan", _with_nan)
        register("says-regression", _noisy, task="regression")


@pytest.fixture(scope="module")
def broken() -> Registry:
    return Registry(
        [seqzoo.plugins.models, seqzoo.plugins.datasets, seqzoo.plugins.optimizers, Broken()],
        entry_points=False,
    )


def test_the_control_model_passes(broken: Registry) -> None:
    report = check_model("tiny", registry=broken, skip_checks={"onnx"})
    _ran(report, "step", "chunks", "save/load", "training", "wrong input", "determinism")


def test_a_record_may_give_the_config_its_checks_use(broken: Registry) -> None:
    report = check_model("needs-width", registry=broken, skip_checks={"onnx"})
    assert report.config == {"input_size": 3, "width": 2}
    # the caller's config goes over the record's example
    assert check_model("needs-width", registry=broken, width=3).config["width"] == 3


@pytest.mark.parametrize(
    ("name", "skip", "failing"),
    [
        ("step-differs", (), "step: step by step vs the whole sequence: values differ"),
        ("loses-buffer", {"config round trip"}, "save/load: the loaded buffer offset: values"),
        ("loses-buffer", (), "config round trip: the rebuilt model's output"),
        ("bare-errors", (), "wrong input: forward on a rank-4 tensor raised a bare RuntimeErr"),
        ("forgets-config", (), r"config round trip: create\(name, \*\*model.config\) has config"),
        ("wrong-step-error", (), "not steppable: .*NotSteppableError; it raised NotImplementedErr"),
        ("nondeterministic", (), "determinism: "),
        ("frozen", (), "training: "),
        ("wrong-shape", (), r"output: an input of shape \(3, 16, 3\) gave shape \(3, 16, 1\)"),
    ],
)
def test_check_model_fails_a_broken_model(
    broken: Registry, name: str, skip: Any, failing: str
) -> None:
    with pytest.raises(AssertionError, match=rf"^model '{name}' \(Broken\): {failing}"):
        check_model(name, registry=broken, skip_checks={"onnx", *skip})


def test_check_layer_fails_broken_layers(broken: Registry) -> None:
    with pytest.raises(AssertionError, match=r"layer 'lying' \(Broken\): shape flow: .*5"):
        check_layer("lying", registry=broken)
    with pytest.raises(AssertionError, match=r"'steps-wrong' \(Broken\): step: step by step"):
        check_layer("steps-wrong", registry=broken)


def test_check_optimizer_and_check_schedule_fail_broken_ones(broken: Registry) -> None:
    with pytest.raises(AssertionError, match="'standstill' .*lowers the loss: 5 steps"):
        check_optimizer("standstill", registry=broken)
    with pytest.raises(AssertionError, match="'forgetful' .*state_dict round trip: "):
        check_optimizer("forgetful", registry=broken)
    with pytest.raises(
        AssertionError,
        match=r"'negative' .*lowers the loss: the schedule set learning rates \[-0.1",
    ):
        check_schedule("negative", registry=broken)
    with pytest.raises(AssertionError, match="'says-batch' .*build: .*interval='batch'"):
        check_schedule("says-batch", registry=broken)


def test_check_dataset_fails_broken_ones(broken: Registry) -> None:
    with pytest.raises(AssertionError, match="'noisy' .*determinism: train.inputs"):
        check_dataset("noisy", registry=broken)
    with pytest.raises(AssertionError, match="'with-nan' .*splits: train inputs hold NaN"):
        check_dataset("with-nan", registry=broken)
    with pytest.raises(AssertionError, match="'says-regression' .*task 'regression'"):
        check_dataset("says-regression", registry=broken)


class EmptyHistory(seqzoo.plugins.training_loops.Supervised):
    """Trains, but reports no epochs."""

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        history = super().fit(*args, **kwargs)
        history.rows = []
        return history


class _TrainerPlugin:
    SEQZOO_HOOK_API = 1

    @hookimpl
    def register_trainers(self, register: Any) -> None:
        defaults = seqzoo.plugins.trainers.COMMON_DEFAULTS
        register("empty-history", EmptyHistory, defaults=dict(defaults), tasks=["forecast"])


def test_check_trainer_fails_a_trainer_that_reports_no_epochs() -> None:
    registry = Registry(
        [
            seqzoo.plugins.models,
            seqzoo.plugins.datasets,
            seqzoo.plugins.optimizers,
            _TrainerPlugin(),
        ],
        entry_points=False,
    )
    with pytest.raises(AssertionError, match="'empty-history' .*history: 2 epochs gave 0 history"):
        check_trainer("empty-history", registry=registry)


class _Zoo:
    """One entry: a copy of a bundled folder with the given checksums."""

    SEQZOO_HOOK_API = 1

    def __init__(self, name: str, root: Path, entry: dict[str, Any]) -> None:
        self.name, self.root, self.entry = name, root, entry

    @hookimpl
    def register_zoo(self, register: Any) -> None:
        factory, keywords = catalogue.registration(self.name, self.entry, self.root)
        register(self.name, factory, **keywords)


def _zoo_copy(tmp_path: Path) -> tuple[str, Path, dict[str, Any]]:
    name = "linear-diabetes"
    folder = shutil.copytree(catalogue.MODELS_DIR / name, tmp_path / "models" / name)
    entry = copy.deepcopy(catalogue.read_catalogue()["entries"][name])
    return name, folder, entry


def _zoo_registry(name: str, root: Path, entry: dict[str, Any]) -> Registry:
    return Registry([seqzoo.plugins.models, _Zoo(name, root, entry)], entry_points=False)


def test_check_zoo_entry_fails_on_a_changed_file(tmp_path: Path) -> None:
    name, folder, entry = _zoo_copy(tmp_path)
    _ran(check_zoo_entry(name, registry=_zoo_registry(name, tmp_path, entry)), "reference")
    card = folder / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nedited\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="'linear-diabetes' .*files: README.md does not match"):
        check_zoo_entry(name, registry=_zoo_registry(name, tmp_path, entry))


def test_check_zoo_entry_fails_when_the_reference_outputs_differ(tmp_path: Path) -> None:
    name, folder, entry = _zoo_copy(tmp_path)
    path = folder / "reference.safetensors"
    reference = load_file(str(path))
    save_file({**reference, "output": reference["output"] + 0.01}, str(path))
    entry["files"]["reference.safetensors"] = file_sha256(path)  # consistent, but wrong
    with pytest.raises(AssertionError, match="reference: the reference output: values differ"):
        check_zoo_entry(name, registry=_zoo_registry(name, tmp_path, entry))


def test_the_report_is_plain_data() -> None:
    report = check_optimizer("sgd")
    assert json.loads(json.dumps(report.__dict__))["passed"] == report.passed
    assert str(report).startswith("optimizer 'sgd' (plugin seqzoo.plugins.optimizers, seqzoo ")


def test_the_kit_imports_pytest_only_inside_parametrize_registered() -> None:
    # a module-level import would make pytest a dependency of `import seqzoo.testing`
    package = Path(seqzoo.testing.__file__).parent
    for module in sorted(package.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if "pytest" in names:
                    function = _enclosing(tree, node)
                    assert function in ("parametrize_registered", "TYPE_CHECKING"), module.name


def _enclosing(tree: ast.AST, target: ast.AST) -> str | None:
    """The function (or ``if TYPE_CHECKING:`` block) that holds ``target``."""
    for node in ast.walk(tree):
        body = getattr(node, "body", [])
        if target in [n for child in body for n in ast.walk(child)]:
            if isinstance(node, ast.FunctionDef):
                return node.name
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                return "TYPE_CHECKING"
    return None


def test_model_inputs_are_what_the_model_takes() -> None:
    ids = model_inputs(seqzoo.create_model("embedding-lstm", vocab_size=12))
    assert ids.shape == (3, 16) and ids.dtype == torch.int64 and int(ids.min()) >= 1
    real = model_inputs(seqzoo.create_model("gru", input_size=2))
    assert real.shape == (3, 16, 2) and real.dtype == torch.float32
    assert torch.equal(real, model_inputs(seqzoo.create_model("gru", input_size=2)))  # seeded


def test_skip_checks_must_name_sub_checks_the_check_has() -> None:
    with pytest.raises(ConfigError, match="skip_checks names \\['onxx'\\].*'onnx'"):
        check_model("lstm", skip_checks={"onxx"})


def test_a_missing_name_is_an_assertion_error_with_suggestions() -> None:
    with pytest.raises(AssertionError, match="model 'lstn' is not registered.*'lstm'"):
        check_model("lstn")


def test_not_steppable_models_raise_the_projects_error() -> None:
    # the kit relies on this: a non-causal built-in refuses to step with NotSteppableError
    report = check_model("gru", bidirectional=True, skip_checks={"onnx"})
    assert report.skipped["step"] == "not causal"
    _ran(report, "not steppable")
    with pytest.raises(NotSteppableError):
        seqzoo.create_model("gru", input_size=2, bidirectional=True).step(torch.zeros(1, 2))
