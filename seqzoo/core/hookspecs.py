"""The plugin contract: every hook a seqzoo plugin may implement.

A plugin is a module (or object) found through the ``seqzoo`` entry-point group; it is known
as ``distribution:entry-point`` (``seqzoo-tcn:tcn``), and the built-ins, loaded first, by their
module names (``seqzoo.plugins.models``). It states the hook API it was written for, as an
int, and implements any of the hooks below (a hook name that matches none, say
``register_model``, leaves the plugin out with a suggestion)::

    import seqzoo

    SEQZOO_HOOK_API = 1

    @seqzoo.hookimpl
    def register_models(register):
        register("tcn", "seqzoo_tcn.model:TCN", description="Temporal convolutional network",
                 defaults={"channels": 32}, tags=["convolutional"])

Every ``register`` callable has the same signature::

    register(name, factory, *, description="", defaults=None, override=False,
             metadata=None, **more_metadata)

- ``name``: what users type (``create_model("tcn")``); unique per kind across all plugins. A
  name another plugin registered already leaves the later plugin out, whole, with an error
  naming both (shown by ``seqzoo plugins``), unless one of them passes ``override``.
- ``factory``: a callable, or a ``"package.module:attr"`` string imported on first use (keeps
  ``seqzoo list`` fast and free of heavy imports; ``seqzoo plugins --check`` imports them all).
- ``description``: one line for ``seqzoo list``.
- ``defaults``: keyword arguments applied under the user's (plain JSON values).
- ``override``: replace a record of the same name another plugin registered (``seqzoo info``
  names the record replaced).
- ``metadata`` and any other keyword (``tags``, ``task``, ...): shown by ``seqzoo info``. A
  keyword close to a real one (``defualts``, ``desc``) is an error; pass it inside
  ``metadata={...}`` to store such a key on purpose.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

__all__ = ["HOOK_API_VERSION", "PROJECT_NAME", "Register", "hookimpl", "hookspec"]

PROJECT_NAME = "seqzoo"

#: The hook API this seqzoo provides. A plugin states the one it targets as the module-level
#: int ``SEQZOO_HOOK_API`` (a string of digits is read as that int); a plugin for another
#: version, or one stating something else, is rejected, naming both versions.
HOOK_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callable each ``register_*`` hook receives."""

    def __call__(
        self,
        name: str,
        factory: Any,
        *,
        description: str = "",
        defaults: dict[str, Any] | None = None,
        override: bool = False,
        metadata: dict[str, Any] | None = None,
        **more_metadata: Any,
    ) -> None: ...


@hookspec
def register_models(register: Register) -> None:
    """Register whole architectures: ``factory(**config) -> model``.

    The factory is usually a :class:`seqzoo.nn.SequenceModel` subclass whose constructor
    arguments, plain JSON values, are its config (``model.config`` gives them back, and
    ``create_model(name, **model.config)`` rebuilds it). :func:`seqzoo.train` calls it with
    the record's ``defaults``, under the sizes the data suggests that the factory takes
    (:meth:`seqzoo.core.data.SequenceData.model_config`: ``input_size`` or ``vocab_size``,
    ``output_size``, ``output``), under the user's config. The model takes
    ``(batch, time, input_size)`` floats or ``(batch, time)`` ids and outputs what the task
    needs (:data:`seqzoo.core.protocols.TASK_SHAPES`); for streaming it is a
    :class:`seqzoo.core.protocols.Streamable`. A model mapping ``{"name": NAME, ...}`` is
    always that model, whatever its arguments are called (``layers`` included); only a
    mapping without a ``name`` (or named ``hybrid``) is a composed spec. Metadata:
    ``input_kind`` (``"real"`` or ``"ids"``), ``tags``, ``example_config``.
    """


@hookspec
def register_layers(register: Register) -> None:
    """Register building blocks for :func:`seqzoo.compose`:
    ``factory(input_size=N, **options) -> Layer``.

    ``input_size`` is the feature count arriving (passed by the composer); the result is a
    :class:`seqzoo.nn.Layer` stating ``output_size`` (and ``needs_sequence``,
    ``reduces_time``, ``takes_ids``, ``causal``), whose ``initial_state`` / ``step`` follow
    :class:`seqzoo.core.protocols.Steppable` when it is causal. A factory that also takes
    ``build`` is a nesting block: ``build(specs, input_size, path)`` builds its children.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: ``factory(**options) -> SequenceData``
    (:class:`seqzoo.core.protocols.DatasetFactory`).

    :func:`seqzoo.train` calls it with the record's ``defaults`` under the user's options and
    expects a :class:`seqzoo.core.data.SequenceData`: train / validation / test splits whose
    shapes per task are :data:`seqzoo.core.protocols.TASK_SHAPES`, plus sizes and
    preprocessing. :func:`seqzoo.core.data.forecast_data` and
    :func:`seqzoo.core.data.tabular_data` build one from a raw series or from rows. Metadata:
    ``task`` (``"forecast"``, ``"regression"``, ``"classification"``, ``"language-model"``),
    ``source``.
    """


@hookspec
def register_optimizers(register: Register, register_schedule: Register) -> None:
    """Register optimizers and learning-rate schedules (the latter through
    ``register_schedule``).

    :func:`seqzoo.train` calls an optimizer factory as ``factory(params=model.parameters(),
    **options)`` and a schedule factory as ``factory(optimizer=optimizer, **options)`` (keyword
    arguments; the record's ``defaults`` under the user's options); a ``ValueError`` or
    ``TypeError`` either raises becomes a ``ConfigError`` naming the part. A schedule states
    when it steps as its ``interval`` attribute, ``"batch"`` or ``"epoch"``
    (:func:`seqzoo.core.steps.schedule_interval`), which trainers follow. Metadata:
    ``interval``.
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers: ``factory(run_dir=..., **options) -> trainer``
    (:class:`seqzoo.core.protocols.TrainerFactory`).

    :func:`seqzoo.train` (``seqzoo train --trainer NAME``) builds the trainer with
    ``run_dir`` (a string, or None for a run without files) and the trainer options, then
    calls ``trainer.check(model, data, optimizer, schedule, resume=...)`` when the trainer has
    one (before any file is written), and
    ``trainer.fit(model, data, optimizer, schedule=schedule, resume=resume)`` (``resume``:
    None, or the run directory to continue). That is everything a trainer is given: options
    and ``run_dir``, then model, data, optimizer, schedule and resume; the schedule's interval
    is no argument but its ``interval`` attribute (``"batch"`` or ``"epoch"``:
    :class:`seqzoo.core.protocols.Schedule`, read with
    :func:`seqzoo.core.steps.schedule_interval`). ``fit`` trains in place and returns the
    history (:class:`seqzoo.core.training.History`); with a run directory it saves
    ``checkpoints/last`` (and ``best``) so the run loads back. The full contract:
    :class:`seqzoo.core.protocols.Trainer` and :class:`~seqzoo.core.protocols.CheckingTrainer`.
    A new built-in trainer subclasses :class:`seqzoo.plugins.trainers.supervised.Supervised` in a
    module of its own (as :mod:`seqzoo.plugins.trainers.tbptt` does). Metadata: ``tasks``
    (the tasks it trains), ``model_output`` (``"sequence"`` when it needs per-step outputs).
    """


@hookspec
def register_zoo(register: Register) -> None:
    """Register pretrained models. The factory is the Hub repo id (``"org/name"``) or a local
    directory holding ``config.json`` and ``model.safetensors`` (or a callable or
    ``"module:attr"`` giving either). ``seqzoo zoo publish RUN_DIR OUT_DIR`` writes such a
    directory from a trained run and prints its record in this schema::

        register("lstm-mydata", "/path/to/lstm-mydata",
                 description="LSTM forecasting ...", architecture="lstm", ...)

    Metadata (all plain JSON; the bundled ``catalogue.json`` entries hold every key):

    - ``architecture``: the model's registry name (``"lstm"``); the loaded model must be one.
    - ``task``: ``"forecast"``, ``"regression"``, ``"classification"`` or ``"language-model"``.
    - ``dataset``: ``{"name": registered dataset, "config": {its arguments}}``.
    - ``files``: ``{file name: sha256}`` of every file of the folder; each is checked on load
      (beside ``config.json``'s own list) and a mismatch is an error naming the file.
    - ``size_bytes``: the folder's total size (``seqzoo zoo list``'s SIZE).
    - ``metrics``: ``{"split": "test", "samples": int, "units": str or None, "headline":
      metric name, "model": {metric: value}, "baselines": {label: {metric: value}}}``, the
      headline one shown by ``seqzoo zoo list`` beside the first baseline (optional
      ``"classical"``: ``{"name", "description"}`` of a classical baseline).
    - ``repo_id``: its Hub copy (``"org/name"``) or None.

    A catalogue record also holds ``reference`` (``{"file": "reference.safetensors", "split",
    "samples", "shapes"}``: inputs and outputs in the folder that
    ``seqzoo.testing.check_zoo_entry`` reproduces) and ``training`` (how it was trained);
    ``seqzoo.zoo.publish.entry_metadata(record)`` gives the keywords to register.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``seqzoo`` command: ``cli`` is its ``click.Group``."""
