"""The written plugin contracts (seqzoo.core.protocols) match what seqzoo really calls.

A trainer written only to the :class:`~seqzoo.protocols.Trainer` protocol, shipped as a real
installed plugin, trains through ``seqzoo train``; the protocols import no torch; a model with
an argument named ``layers`` is that model, not a hybrid spec; the attributes that travel with
a model outside its state dict are declared on ``SequenceModel``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_seqzoo, write_distribution

import seqzoo
from seqzoo.core.errors import ConfigError
from seqzoo.core.registry import Registry
from seqzoo.protocols import CheckingTrainer, Steppable, Streamable, Trainer

#: A trainer plugin written to the documented protocol alone: no seqzoo trainer class, only
#: the helpers the protocol names (loss, forward, checkpoint, history).
PLAIN_SGD = '''
import time

import seqzoo
from seqzoo.errors import ConfigError

SEQZOO_HOOK_API = 1


@seqzoo.hookimpl
def register_trainers(register):
    register("plain-sgd", "seqzoo_plain:PlainSGD", description="Plain SGD steps.",
             tasks=["forecast"])


class PlainSGD:
    """A few mini-batch steps per epoch with the optimizer it is given."""

    def __init__(self, run_dir=None, epochs=1, batch_size=16, steps=3, seed=0, quiet=False,
                 plot=True):
        self.run_dir, self.epochs, self.batch_size, self.steps = run_dir, epochs, batch_size, steps

    def fit(self, model, data, optimizer, *, schedule=None, resume=None):
        import torch
        from seqzoo.core.training import (EpochRow, History, TrainingResult, loss_for,
                                          model_forward, save_checkpoint, write_history)

        if resume is not None:
            raise ConfigError("plain-sgd cannot resume a run; train it again")
        loss_fn, history = loss_for(data.task), History()
        generator = torch.Generator().manual_seed(0)
        for epoch in range(1, self.epochs + 1):
            began, losses = time.perf_counter(), []
            batches = data.train.batches(self.batch_size, shuffle=True, generator=generator)
            for _, (x, y, lengths) in zip(range(self.steps), batches):
                optimizer.zero_grad()
                loss = loss_fn(model_forward(model, x, lengths), y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            if schedule is not None:
                schedule.step()
            history.rows.append(EpochRow(epoch, sum(losses) / len(losses), None,
                                         optimizer.param_groups[0]["lr"],
                                         time.perf_counter() - began))
        history.result = TrainingResult(epochs=self.epochs, best_epoch=self.epochs,
                                        monitor="train_loss",
                                        best_value=history.rows[-1].train_loss,
                                        run_dir=self.run_dir)
        if self.run_dir is not None:  # what load_run, evaluate and predict read back
            save_checkpoint(self.run_dir, "last", model, optimizer, schedule)
            write_history(self.run_dir, history)
        return history
'''


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plain-sgd plugin installed as pip lays it out (a module and its dist-info)."""
    return write_distribution(
        tmp_path_factory.mktemp("plain") / "site",
        distribution="seqzoo-plain",
        version="0.1.0",
        module="seqzoo_plain",
        source=PLAIN_SGD,
    )


def _module_from(site: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("seqzoo_plain", site / "seqzoo_plain.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["seqzoo_plain"] = module  # the record's "seqzoo_plain:PlainSGD" imports it
    spec.loader.exec_module(module)
    return module


def test_a_protocol_only_trainer_plugin_trains_through_the_cli(
    plain_site: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--trainer", "plain-sgd", "--model", "gru", "-M", "hidden_size=4",
        "--dataset", "sine", "-D", "length=200", "-D", "window=8", "--optimizer", "sgd",
        "--lr", "0.05", "--epochs", "2", "-T", "steps=2", "--quiet", "--run-dir", str(run_dir),
        paths=(plain_site,),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best epoch 2" in result.stdout  # the summary read the History the trainer returned
    spec = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert spec["trainer"]["name"] == "plain-sgd" and spec["trainer"]["steps"] == 2
    rows = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))["rows"]
    assert [row["epoch"] for row in rows] == [1, 2]

    # the run is whole: it loads back from the checkpoint the protocol says to write, with the
    # default registry (no trainer is needed to rebuild a run)
    from seqzoo.core.workflow import load_run

    loaded = load_run(run_dir)
    assert loaded.model.registry_name == "gru" and loaded.model.preprocessing is not None
    with torch.no_grad():
        assert loaded.model(loaded.data.test.inputs[:2]).shape == (2, 1)


def test_the_protocol_only_trainer_is_a_trainer_and_passes_the_conformance_check(
    plain_site: Path,
) -> None:
    module = _module_from(plain_site)
    try:
        trainer = module.PlainSGD(run_dir=None, epochs=1)
        assert isinstance(trainer, Trainer)
        assert not isinstance(trainer, CheckingTrainer)  # check is optional, and it has none
        registry = Registry([module])
        # an option the factory does not take is refused by name, valid ones listed
        with pytest.raises(ConfigError, match="'clip'.*epochs, batch_size, steps"):
            registry.create("trainer", "plain-sgd", run_dir=None, clip=1.0)
        from seqzoo.testing import check_trainer

        report = check_trainer(  # 2 epochs into a run directory, then load_run compares
            "plain-sgd",
            registry=registry,
            model={"name": "gru", "hidden_size": 4},
            dataset={"name": "sine", "length": 200, "window": 8},
        )
        assert {"train", "history", "loads back"} <= set(report.passed), str(report)
    finally:
        sys.modules.pop("seqzoo_plain", None)


def test_the_built_in_trainers_and_modules_satisfy_the_protocols() -> None:
    registry = seqzoo.get_registry()
    for name in ("supervised", "tbptt"):
        trainer = registry.create("trainer", name, run_dir=None)
        assert isinstance(trainer, CheckingTrainer) and isinstance(trainer, Trainer)
    model = seqzoo.create_model("gru", input_size=2, hidden_size=4)
    layer = seqzoo.create_layer("lstm", input_size=2, hidden_size=4)
    assert isinstance(model, Streamable) and isinstance(layer, Steppable)
    assert not isinstance(object(), Steppable) and not isinstance(object(), Trainer)
    # the streaming contract: the state keeps its form from step to step
    state = model.initial_state(3)
    x = torch.randn(3, 5, 2)
    with torch.no_grad():
        for t in range(5):
            _, after = model.step(x[:, t], state)
            before = [s.shape for s in (state if isinstance(state, (tuple, list)) else [state])]
            now = [s.shape for s in (after if isinstance(after, (tuple, list)) else [after])]
            assert before == now
            state = after


def test_the_protocols_import_no_torch() -> None:
    code = (
        "import sys, seqzoo.protocols, seqzoo.core.hookspecs\n"
        "from seqzoo.protocols import Trainer\n"
        "class T:\n"
        "    def fit(self, model, data, optimizer, *, schedule=None, resume=None): pass\n"
        "assert isinstance(T(), Trainer)\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# -- a model argument named `layers` -----------------------------------------------------------


def _stacked_plugin() -> types.ModuleType:
    from seqzoo.nn import SequenceModel

    class Stacked(SequenceModel):
        """``layers`` GRU layers and a linear head: a model whose argument is named layers."""

        def __init__(self, input_size: int, output_size: int = 1, layers: int = 1) -> None:
            super().__init__()
            self._remember_config(locals())
            self.input_size, self.layers = input_size, layers
            self.rnn = torch.nn.GRU(input_size, 4, num_layers=layers, batch_first=True)
            self.head = torch.nn.Linear(4, output_size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(x)[0][:, -1])

    module = types.ModuleType("stacked_plugin")

    @seqzoo.hookimpl
    def register_models(register: Any) -> None:
        register("stacked", Stacked, description="GRU stack with a `layers` argument.")

    module.register_models = register_models  # type: ignore[attr-defined]
    return module


def test_a_model_mapping_with_a_name_is_that_model_even_with_a_layers_argument() -> None:
    from seqzoo.core.workflow import build_parts, resolve_part, train

    assert resolve_part({"name": "stacked", "layers": 2}, "model") == ("stacked", {"layers": 2})
    assert resolve_part({"layers": [{"name": "lstm"}]}, "model")[0] == "hybrid"  # type: ignore[index]
    assert resolve_part({"name": "hybrid", "layers": []}, "model")[0] == "hybrid"  # type: ignore[index]

    registry = Registry([_stacked_plugin()])
    data_spec = {"name": "sine", "length": 200, "window": 8}
    model, _ = build_parts(
        {"model": {"name": "stacked", "layers": 2}, "dataset": data_spec}, registry
    )
    assert model.rnn.num_layers == 2 and model.config["layers"] == 2

    run = train(
        model={"name": "stacked", "layers": 2},
        dataset=data_spec,
        registry=registry,
        epochs=1,
        quiet=True,
        plot=False,
    )
    assert run.model.registry_name == "stacked" and run.model.rnn.num_layers == 2
    assert run.spec["model"] == {"name": "stacked", "layers": 2}
    assert len(run.history.rows) == 1


# -- what travels with a model outside its state dict ----------------------------------------


def test_the_attributes_outside_the_state_dict_are_declared_on_sequence_model() -> None:
    from seqzoo.nn import SequenceModel

    declared = ("registry_name", "preprocessing", "pretrained_config", "last_window")
    annotations = SequenceModel.__annotations__
    for name in declared:
        assert name in annotations and getattr(SequenceModel, name) is None, name

    model = seqzoo.create_model("gru", input_size=1, hidden_size=4)
    assert model.registry_name == "gru"  # set by the registry, on the instance
    assert model.preprocessing is None and model.pretrained_config is None
    assert model.last_window is None
    # none of them is part of the weights: state_dict, and so saved files, are unchanged
    assert not any(key.split(".")[0] in declared for key in model.state_dict())


def test_each_hook_states_the_call_seqzoo_makes() -> None:
    import inspect

    from seqzoo.core import hookspecs

    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert len(hooks) == 7
    for name in hooks:
        assert inspect.getdoc(getattr(hookspecs, name)), f"{name} has no docstring"
    trainers = inspect.getdoc(hookspecs.register_trainers) or ""
    assert "resume=resume" in trainers and "run_dir" in trainers
    assert "protocols.Trainer" in trainers and "schedule=None) -> history" not in trainers
    datasets = inspect.getdoc(hookspecs.register_datasets) or ""
    assert "SequenceData" in datasets and "forecast_data" in datasets and "TASK_SHAPES" in datasets


def test_a_trainer_returning_no_history_gives_an_empty_best() -> None:
    from seqzoo.core.workflow import train

    calls: list[dict[str, Any]] = []

    class Recording:
        def __init__(self, run_dir: str | None = None, **options: Any) -> None:
            calls.append({"run_dir": run_dir, **options})

        def fit(self, model: Any, data: Any, optimizer: Any, *, schedule=None, resume=None) -> None:
            calls.append({"schedule": schedule, "resume": resume, "task": data.task})

    module = types.ModuleType("recording_plugin")

    @seqzoo.hookimpl
    def register_trainers(register: Any) -> None:
        register("recording", Recording, description="Records the calls.")

    module.register_trainers = register_trainers  # type: ignore[attr-defined]
    run = train(
        model={"name": "gru", "hidden_size": 4},
        dataset={"name": "sine", "length": 200, "window": 8},
        trainer="recording",
        registry=Registry([module]),
        epochs=3,
    )
    assert run.history is None and run.best == {}
    assert calls == [
        {"run_dir": None, "epochs": 3},
        {"schedule": None, "resume": None, "task": "forecast"},
    ]
