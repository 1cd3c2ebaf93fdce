"""The built-in trainers plugin: ``supervised``, ``tbptt`` and ``ddp`` (string factories, no
torch).

A trainer is built from options, ``trainer = create("trainer", "supervised", epochs=20)``, and
run with ``trainer.fit(model, data, optimizer, schedule=None, resume=None) -> History``
(see :mod:`seqzoo.plugins.trainers.supervised`). Each trainer has a module of its own:
``supervised`` in :mod:`seqzoo.plugins.trainers.supervised`, ``tbptt`` in
:mod:`seqzoo.plugins.trainers.tbptt`, ``ddp`` in :mod:`seqzoo.plugins.trainers.ddp`; a new one
goes beside them and is registered here.
"""

from __future__ import annotations

from seqzoo.core.hookspecs import Register, hookimpl

SEQZOO_HOOK_API = 1

_LOOPS = "seqzoo.plugins.trainers.supervised"

#: Options both trainers take (the learning rate belongs to the optimizer, not here).
COMMON_DEFAULTS = {
    "epochs": 10,
    "batch_size": 32,
    "clip": None,
    "patience": None,
    "monitor": "val_loss",
    "seed": 0,
    "quiet": False,
    "run_dir": None,
    "checkpoint_every": None,
    "restore_best": True,
    "save_every": 30.0,
    "plot": True,
    "device": "auto",
    "precision": "32",
    "compile": False,
    "threads": 1,
}


@hookimpl
def register_trainers(register: Register) -> None:
    """Register the built-in training loops."""
    register(
        "supervised",
        f"{_LOOPS}:Supervised",
        description="Mini-batch training with validation, early stopping and checkpoints",
        defaults=dict(COMMON_DEFAULTS),
        tasks=["forecast", "regression", "classification", "language-model"],
    )
    register(
        "tbptt",
        "seqzoo.plugins.trainers.tbptt:TBPTT",
        description="Truncated backpropagation through time over chunks of long sequences",
        defaults={**COMMON_DEFAULTS, "chunk": 32},
        tasks=["forecast", "language-model"],
        model_output="sequence",
    )
    register(
        "ddp",
        "seqzoo.plugins.trainers.ddp:DDP",
        description="Supervised training on several processes with DistributedDataParallel "
        "(torchrun or seqzoo train --nproc N; gloo on the CPU, NCCL on CUDA)",
        defaults={**COMMON_DEFAULTS, "timeout": 300.0},
        tasks=["forecast", "regression", "classification", "language-model"],
    )
