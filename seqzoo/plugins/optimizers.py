"""The built-in optimizers and learning-rate schedules plugin.

Every optimizer class in ``torch.optim`` is registered under its lowercase name with a
``"torch.optim:Class"`` string factory, ``factory(params, **options)``; the list is written out
here so that listing never imports torch (``tests/test_training.py`` checks it against the
installed torch so it cannot drift). ``defaults`` hold each class's own default ``lr``.

Schedules (``factory(optimizer, **options)``, in :mod:`seqzoo.plugins.schedules`) carry
``interval`` metadata: ``"epoch"`` schedules step once per epoch, ``"batch"`` ones after every
optimizer step.
"""

from __future__ import annotations

from seqzoo.core.hookspecs import Register, hookimpl

SEQZOO_HOOK_API = 1

#: lowercase name -> (torch.optim class, its default lr, description)
OPTIMIZERS: dict[str, tuple[str, float, str]] = {
    "adadelta": ("Adadelta", 1.0, "Adadelta: per-parameter rates from running averages"),
    "adafactor": ("Adafactor", 1e-2, "Adafactor: factored second moments, little memory"),
    "adagrad": ("Adagrad", 1e-2, "Adagrad: rates shrink with accumulated squared gradients"),
    "adam": ("Adam", 1e-3, "Adam: adaptive moments (the usual default)"),
    "adamax": ("Adamax", 2e-3, "Adamax: Adam with the infinity norm"),
    "adamw": ("AdamW", 1e-3, "AdamW: Adam with decoupled weight decay"),
    "asgd": ("ASGD", 1e-2, "Averaged stochastic gradient descent"),
    "lbfgs": ("LBFGS", 1.0, "L-BFGS (full-batch quasi-Newton; the trainer passes a closure)"),
    "muon": ("Muon", 1e-3, "Muon: orthogonalized momentum (2-D weight matrices only)"),
    "nadam": ("NAdam", 2e-3, "NAdam: Adam with Nesterov momentum"),
    "radam": ("RAdam", 1e-3, "RAdam: Adam with a rectified warmup of the variance"),
    "rmsprop": ("RMSprop", 1e-2, "RMSprop: rates scaled by a running mean of squared gradients"),
    "rprop": ("Rprop", 1e-2, "Rprop: resilient backpropagation, sign-based (full batch)"),
    "sgd": ("SGD", 1e-3, "Stochastic gradient descent, optional momentum and Nesterov"),
    "sparseadam": ("SparseAdam", 1e-3, "Adam for sparse gradients (sparse embeddings only)"),
}

_SCHEDULES = "seqzoo.plugins.schedules"


@hookimpl
def register_optimizers(register: Register, register_schedule: Register) -> None:
    """Register every torch.optim optimizer and the built-in schedules."""
    for name, (cls, lr, description) in OPTIMIZERS.items():
        register(
            name, f"torch.optim:{cls}", description=description, defaults={"lr": lr}, source="torch"
        )
    register_schedule(
        "step",
        f"{_SCHEDULES}:step",
        description="StepLR: multiply the lr by gamma every step_size epochs",
        defaults={"step_size": 10, "gamma": 0.1},
        interval="epoch",
    )
    register_schedule(
        "cosine",
        f"{_SCHEDULES}:cosine",
        description="CosineAnnealingLR: cosine decay to eta_min over t_max epochs",
        defaults={"t_max": 50, "eta_min": 0.0},
        interval="epoch",
    )
    register_schedule(
        "plateau",
        f"{_SCHEDULES}:plateau",
        description="ReduceLROnPlateau: cut the lr when the monitored value stalls",
        defaults={"factor": 0.1, "patience": 5, "mode": "min", "threshold": 1e-4, "min_lr": 0.0},
        interval="epoch",
        monitored=True,
    )
    register_schedule(
        "onecycle",
        f"{_SCHEDULES}:onecycle",
        description="OneCycleLR: warm up to max_lr, then anneal, over total_steps batches",
        defaults={"total_steps": 1000, "max_lr": None, "pct_start": 0.3, "anneal": "cos"},
        interval="batch",
    )
    register_schedule(
        "warmup",
        f"{_SCHEDULES}:warmup",
        description="Linear warmup over warmup_steps batches, then constant or cosine decay",
        defaults={
            "warmup_steps": 100,
            "start_factor": 0.01,
            "then": "constant",
            "total_steps": None,
        },
        interval="batch",
    )
