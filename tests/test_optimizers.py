"""The optimizer, schedule and trainer plugins: the optimizer list cannot drift from torch.optim,
listing imports no torch, and every schedule builds, steps and saves."""

from __future__ import annotations

import inspect
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.registry import Registry
from seqzoo.core.training import schedule_interval
from seqzoo.plugins import optimizers, schedules, trainers
from seqzoo.plugins.models.linear import LinearModel
from seqzoo.plugins.models.recurrent import RecurrentModel
from seqzoo.plugins.training_loops import TBPTT, Supervised

REPO = Path(__file__).resolve().parents[1]


def lstm() -> RecurrentModel:
    torch.manual_seed(0)
    return RecurrentModel(input_size=1, hidden_size=8)


def _roundtrip(obj: object) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_the_optimizer_list_matches_torch_optim() -> None:
    classes = {
        name: cls
        for name, cls in vars(torch.optim).items()
        if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)
        and cls is not torch.optim.Optimizer
    }  # fmt: skip
    listed = {cls: lr for cls, lr, _ in optimizers.OPTIMIZERS.values()}
    newer = {"Adafactor", "Muon"} - set(classes)  # absent only from torch older than these
    assert set(listed) - newer == set(classes), "torch.optim changed: update OPTIMIZERS"
    assert all(key == cls.lower() for key, (cls, _, _) in optimizers.OPTIMIZERS.items())
    for name, lr in listed.items() - {(n, listed[n]) for n in newer}:
        assert inspect.signature(classes[name]).parameters["lr"].default == lr, name


# muon: 2-D weights only; sparseadam: sparse gradients only (both say so in their descriptions)
@pytest.mark.parametrize("name", sorted(set(optimizers.OPTIMIZERS) - {"muon", "sparseadam"}))
def test_every_registered_optimizer_trains_with_the_supervised_trainer(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 3, generator=generator)
    y = x[:, 0] @ torch.tensor([[1.0], [-2.0], [0.5]])
    split = Split(x, y)
    data = SequenceData("lin", "regression", split, split, split, input_size=3, output_size=1)
    torch.manual_seed(0)
    model = LinearModel(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = Registry(plugins=[optimizers], entry_points=False).create(
        "optimizer", name, params=model.parameters()
    )
    history = Supervised(epochs=2, batch_size=10, quiet=True).fit(model, data, optimizer)
    assert all(math.isfinite(loss) for loss in history.train_loss)
    assert not all(map(torch.equal, before, model.parameters()))  # the optimizer stepped


def test_plugins_register_without_importing_torch() -> None:
    code = (
        "import sys\nfrom seqzoo.core.registry import Registry\n"
        "from seqzoo.plugins import optimizers, trainers\n"
        "r = Registry(plugins=[optimizers, trainers], entry_points=False)\n"
        "print(len(r.names('optimizer')), len(r.names('schedule')), len(r.names('trainer')))\n"
        "assert 'torch' not in sys.modules, 'listing imported torch'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(optimizers.OPTIMIZERS)), "5", "3"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(plugins=[optimizers, trainers], entry_points=False)


def test_registered_optimizers_and_trainers_build(registry: Registry) -> None:
    model = lstm()
    adam = registry.create("optimizer", "adamw", params=model.parameters())
    assert isinstance(adam, torch.optim.AdamW) and adam.param_groups[0]["lr"] == 1e-3
    trainer = registry.create("trainer", "tbptt", epochs=2)
    assert isinstance(trainer, TBPTT) and trainer.chunk == 32 and trainer.epochs == 2
    assert isinstance(registry.create("trainer", "supervised"), Supervised)
    with pytest.raises(ConfigError):
        registry.create("trainer", "supervised", batch_size=0)


SCHEDULE_OPTIONS = {
    "step": {"step_size": 2},
    "cosine": {"t_max": 4},
    "plateau": {"patience": 0},
    "onecycle": {"total_steps": 6},
    "warmup": {"warmup_steps": 2, "then": "cosine", "total_steps": 6},
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_OPTIONS))
def test_every_schedule_builds_steps_and_saves(registry: Registry, name: str) -> None:
    assert sorted(registry.names("schedule")) == sorted(SCHEDULE_OPTIONS)
    spec = registry.get("schedule", name)
    optimizer = torch.optim.SGD(lstm().parameters(), lr=0.1)
    schedule = spec.create(optimizer=optimizer, **SCHEDULE_OPTIONS[name])
    assert schedule_interval(schedule) == spec.metadata["interval"]
    rates = []
    for _ in range(5):
        optimizer.step()
        schedule.step(1.0) if name == "plateau" else schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert len(set(rates)) > 1 and all(r >= 0 for r in rates), rates
    state = torch.load(_roundtrip(schedule.state_dict()), weights_only=True)
    again = spec.create(optimizer=torch.optim.SGD(lstm().parameters(), lr=0.1),
                        **SCHEDULE_OPTIONS[name])  # fmt: skip
    again.load_state_dict(state)
    assert again.last_epoch == schedule.last_epoch


def test_warmup_ramps_linearly_then_holds() -> None:
    optimizer = torch.optim.SGD(lstm().parameters(), lr=1.0)
    schedule = schedules.warmup(optimizer, warmup_steps=4, start_factor=0.25)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(6):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0])
    with pytest.raises(ConfigError):
        schedules.warmup(optimizer, warmup_steps=4, then="cosine", total_steps=3)
