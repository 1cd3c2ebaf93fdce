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
    """Register whole architectures.

    The factory is an ``nn.Module`` class (a :class:`seqzoo.core.modules.SequenceModel`) whose
    constructor arguments, plain JSON values, are its config. Metadata: ``input_kind``
    (``"real"`` or ``"ids"``), ``tags``.
    """


@hookspec
def register_layers(register: Register) -> None:
    """Register building blocks for :func:`seqzoo.compose`.

    The factory takes ``input_size`` (features arriving) plus its own arguments and returns a
    :class:`seqzoo.core.modules.Layer` stating ``output_size``. A factory that also takes
    ``build`` is a nesting block: ``build(specs, input_size, path)`` builds its children.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets. The factory returns a data object with train/validation/test splits.

    Metadata: ``task`` (``"forecast"``, ``"regression"``, ``"classification"``,
    ``"language-model"``), ``source``.
    """


@hookspec
def register_optimizers(register: Register, register_schedule: Register) -> None:
    """Register optimizers (``factory(params, **options)``) and learning-rate schedules
    (``factory(optimizer, **options)``) through ``register_schedule``."""


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers: the factory takes options and returns an object with
    ``fit(model, data, optimizer, schedule=None) -> history``."""


@hookspec
def register_zoo(register: Register) -> None:
    """Register pretrained models. The factory is the Hub repo id (``"org/name"``) or a local
    directory holding ``config.json`` and ``model.safetensors``. Metadata: ``architecture``,
    ``task``, ``dataset``, ``metrics``, ``files`` (name -> sha256)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``seqzoo`` command: ``cli`` is its ``click.Group``."""
