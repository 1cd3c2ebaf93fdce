"""The written plugin contracts: what seqzoo calls on a trainer, a dataset factory and a model.

Each contract is a :class:`typing.Protocol`: a plugin satisfies it by having the methods, not by
subclassing anything (the built-in classes are one way to satisfy them). The runtime-checkable
ones answer ``isinstance(obj, Trainer)``, which looks only for the methods' presence; the
signatures below are the calls seqzoo makes.

Trainers (:class:`TrainerFactory`, :class:`Trainer`, :class:`CheckingTrainer`,
:class:`Schedule`): what :func:`seqzoo.train` does with the registered trainer, in order::

    trainer = factory(run_dir=RUN_DIR_OR_NONE, **options)   # registered defaults under options
    trainer.check(model, data, optimizer, schedule, resume=RESUME_OR_NONE)  # when it has one
    # ... run.json is written only now, once every part is known to fit ...
    history = trainer.fit(model, data, optimizer, schedule=SCHEDULE_OR_NONE, resume=RESUME_OR_NONE)

That is all a trainer is given: its ``options`` and ``run_dir`` (once, when it is built),
then ``model``, ``data``, ``optimizer``, ``schedule`` and ``resume``. No interval is passed:
the schedule carries it as ``schedule.interval`` (``"batch"`` or ``"epoch"``, set by every
registered schedule factory), read with :func:`seqzoo.core.steps.schedule_interval`.

Datasets (:class:`DatasetFactory`): ``factory(**options) -> SequenceData``; the shapes per task
are in :data:`TASK_SHAPES` (and :mod:`seqzoo.core.data`).

Streaming (:class:`Steppable`, :class:`Streamable`): ``initial_state`` / ``step`` /
``forward_stateful``, whose state keeps its structure and shapes from step to step.

This module imports neither torch nor numpy, so it is safe on the light paths (listing,
``import seqzoo``); the annotations name torch types for type checkers only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from .tasks import TASKS

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from .data import SequenceData
    from .history import History

__all__ = [
    "TASK_SHAPES",
    "CheckingTrainer",
    "DatasetFactory",
    "Schedule",
    "State",
    "Steppable",
    "Streamable",
    "Trainer",
    "TrainerFactory",
]

#: A streaming state: ``None``, a tensor, or a tuple or list of states (nested). Its structure,
#: shapes, dtypes and device are the same after every step as :meth:`Steppable.initial_state`
#: made them: that is what lets a state be an explicit ONNX input and output
#: (:mod:`seqzoo.zoo.onnx`) and what :meth:`seqzoo.nn.SequenceModel.check_state` checks.
State: TypeAlias = Any

#: Per task (``SequenceData.task``), the shapes of a split's ``inputs`` and ``targets`` for
#: ``N`` samples, and what a model must output for a batch of ``B`` (from the task table,
#: :data:`seqzoo.core.tasks.TASKS`).
TASK_SHAPES: dict[str, dict[str, str]] = {name: dict(t.shapes) for name, t in TASKS.items()}


# -- trainers ---------------------------------------------------------------------------------


@runtime_checkable
class Schedule(Protocol):
    """The learning-rate schedule a trainer is given (or None): a torch scheduler over the
    run's optimizer, built by the registered schedule factory.

    - ``interval`` (attribute): ``"batch"`` (call :meth:`step` after every optimizer step) or
      ``"epoch"`` (after every epoch); :func:`seqzoo.core.steps.schedule_interval` reads it
      (and knows torch's OneCycleLR / CyclicLR, which step per batch, without it).
      ``ReduceLROnPlateau`` steps per epoch with the monitored value: ``step(value)``.
    - ``state_dict`` / ``load_state_dict``: what a checkpoint keeps of it
      (:func:`seqzoo.core.checkpoints.save_checkpoint`), so a resumed run continues it.
    """

    def step(self, *args: Any) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any: ...


@runtime_checkable
class Trainer(Protocol):
    """What :func:`seqzoo.train` (and ``seqzoo train --trainer NAME``) runs.

    ``fit`` trains ``model`` (a :class:`seqzoo.nn.SequenceModel`, its weights already
    initialized from the run's ``seed``) on ``data`` in place, with ``optimizer`` (a
    ``torch.optim.Optimizer`` over ``model.parameters()``) and ``schedule`` (a
    :class:`Schedule` or None: its ``interval`` says whether it steps per ``"batch"`` or per
    ``"epoch"``; :func:`seqzoo.core.steps.schedule_interval` reads it). These, with the
    factory's ``run_dir`` and options (:class:`TrainerFactory`), are everything seqzoo passes.

    - ``resume``: None for a new run, else the run directory to continue from: load its
      ``checkpoints/last`` into model, optimizer and schedule
      (:func:`seqzoo.core.training.load_checkpoint`) and go on. A trainer that cannot resume
      raises :class:`~seqzoo.core.errors.ConfigError` saying so.
    - The returned value becomes ``Run.history``. A :class:`seqzoo.core.training.History`
      (one :class:`~seqzoo.core.training.EpochRow` per epoch, ``result.best_epoch``) is what
      ``Run.best`` and the ``seqzoo train`` summary read; anything else (None included) is
      kept as is and gives an empty ``Run.best``.
    - Files: with a run directory (the factory's ``run_dir``), ``fit`` writes at least
      ``checkpoints/last`` with :func:`seqzoo.core.training.save_checkpoint`, and
      ``checkpoints/best`` when it judges a best epoch: :func:`seqzoo.core.workflow.load_run`,
      ``seqzoo evaluate`` and ``seqzoo predict RUN_DIR`` load ``best``, falling back to
      ``last``. ``history.json`` / ``metrics.csv`` (:func:`seqzoo.core.training.write_history`)
      are optional. seqzoo itself writes ``run.json`` before ``fit`` and the model's last
      window after it; it holds the run directory's lock for the whole run.
    - Errors on bad input are :class:`~seqzoo.core.errors.SeqzooError` subclasses.

    ``seqzoo.testing.check_trainer(NAME)`` checks a registered trainer against this.
    """

    def fit(
        self,
        model: torch.nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        *,
        schedule: Schedule | None = None,
        resume: str | None = None,
    ) -> History | Any: ...


@runtime_checkable
class CheckingTrainer(Trainer, Protocol):
    """A :class:`Trainer` that can refuse a run before anything is written.

    When a trainer has ``check``, :func:`seqzoo.train` calls it with the same parts ``fit``
    will get, before ``run.json`` is written: it raises a
    :class:`~seqzoo.core.errors.SeqzooError` for anything ``fit`` would refuse (the task, the
    monitor, the data's values, a ``resume`` directory without a checkpoint) and writes no file.
    ``fit`` follows with the very same objects, so ``check`` may keep what it prepared.
    """

    def check(
        self,
        model: torch.nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | None = None,
        *,
        resume: str | None = None,
    ) -> None: ...


class TrainerFactory(Protocol):
    """What ``register_trainers`` registers: ``factory(run_dir=..., **options) -> Trainer``.

    - ``run_dir``: always passed; the run directory as a string, or None when the run writes
      no files (``train(run_dir=None)``). When resuming it is the resumed run's directory.
      seqzoo sets it itself: a trainer config that gives ``run_dir`` is refused.
    - ``options``: the record's ``defaults``, under the run's trainer config (``{"name": ...,
      **config}``), under ``train(**options)``. The ``seqzoo train`` flags add theirs only
      when given: ``epochs``, ``batch_size``, ``clip``, ``patience``, ``seed``, ``save_every``,
      ``quiet``, ``plot`` (``--quiet`` and ``--no-plot`` give ``plot=False``), ``device``,
      ``precision``, ``compile``, ``threads``; ``-T KEY=VALUE`` adds any other. The registry
      checks them against the factory's signature: an argument it does not take is a
      :class:`~seqzoo.core.errors.ConfigError` naming the valid ones (take ``**options`` to
      accept and ignore others). ``seed`` (default 0) is also what :func:`seqzoo.train` seeds
      torch with before it builds the model, and ``threads`` (when given or a registered
      default) sets torch's intra-op threads first.
    - A resumed run passes the options stored in its ``run.json``, updated by the new ones.
    """

    def __call__(self, *, run_dir: str | None = None, **options: Any) -> Trainer: ...


# -- datasets ---------------------------------------------------------------------------------


class DatasetFactory(Protocol):
    """What ``register_datasets`` registers: ``factory(**options) -> SequenceData``.

    ``options`` are the record's ``defaults`` under the user's (``-D KEY=VALUE``, or
    ``{"name": ..., **options}``), plain JSON values. The result is a
    :class:`seqzoo.core.data.SequenceData` whose ``task`` is one of
    ``forecast``, ``regression``, ``classification``, ``language-model`` and whose
    train / validation / test :class:`~seqzoo.core.data.Split`\\ s have the shapes of
    :data:`TASK_SHAPES` (validation and test may be empty, train may not). Build it with
    :func:`seqzoo.core.data.forecast_data` (a raw ``(time, columns)`` series -> leak-free scaled
    windows) or :func:`seqzoo.core.data.tabular_data` (rows -> length-1 sequences), or directly.

    seqzoo reads from it: ``input_size`` (None for token ids) or ``vocab_size``,
    ``output_size``, ``model_config()`` (the sizes a model is built with unless the user sets
    them), ``preprocessing`` (travels with the trained model, so predictions come back in raw
    units), ``series`` (the raw series, for forecasting past its end) and ``name``. The same
    options and torch seed give the same data (``seqzoo.testing.check_dataset`` checks it).
    """

    def __call__(self, **options: Any) -> SequenceData: ...


# -- streaming --------------------------------------------------------------------------------


@runtime_checkable
class Steppable(Protocol):
    """Step-by-step inference, as every model and every :func:`seqzoo.compose` layer offers.

    - ``initial_state(batch_size, *, device=None, dtype=None)``: the state before the first
      step (``None`` for a stateless module); a batch size below 1 is a ``ConfigError``.
    - ``step(x_t, state)``: one time step, ``(batch, input_size)`` floats or ``(batch,)`` ids,
      -> ``(y_t, next_state)``. ``state=None`` means the initial state.

    Feeding a sequence one step at a time gives what the whole-sequence ``forward`` gives. The
    next state has the structure, shapes, dtypes and device of ``initial_state(batch_size)``
    (no growing buffers, no changing nesting): a fixed-form state is what makes an ONNX export
    with the state as explicit inputs and outputs possible. A module that cannot step (not
    ``causal``) raises :class:`~seqzoo.core.errors.NotSteppableError` from ``step``.
    """

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State: ...

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]: ...


@runtime_checkable
class Streamable(Steppable, Protocol):
    """A :class:`Steppable` that also runs a chunk from a state: what every model offers.

    ``forward_stateful(x, state)`` runs ``(batch, time, ...)`` from ``state`` (None: the initial
    state) and returns ``(y, next_state)``: ``y`` as ``forward`` gives it (the last step's
    ``(batch, out)``, or ``(batch, time, out)`` for ``output="sequence"``), the next state of
    the same form. Chunks fed in turn give what one pass over the whole sequence gives
    (streaming, truncated BPTT). :class:`seqzoo.nn.SequenceModel` provides a default that loops
    over ``step``, so a model that steps needs no code of its own for it.
    """

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]: ...
