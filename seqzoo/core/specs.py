"""The records plugins hand in: one :class:`Spec` per registered thing.

A record is cheap to make: its factory may be a ``"package.module:attr"`` string that is
imported only when the thing is first created, so listing never imports torch.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, PluginError

__all__ = ["KINDS", "PluginInfo", "Spec", "check_arguments"]

#: Every kind of thing a plugin can register, in listing order.
KINDS: tuple[str, ...] = ("model", "layer", "dataset", "optimizer", "schedule", "trainer", "zoo")


@dataclass(frozen=True)
class PluginInfo:
    """Who registered a record: the plugin's name and the distribution that ships it.

    ``name`` is the plugin's key: a built-in's module name (``seqzoo.plugins.models``), or an
    outside plugin's ``distribution:entry-point`` (``seqzoo-tcn:tcn``).
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None  # the entry point's own name, for an outside plugin

    @property
    def label(self) -> str:
        """``"seqzoo-tcn 0.2.0"``, or the plugin's name when it has no distribution."""
        if self.distribution:
            return f"{self.distribution} {self.version}" if self.version else self.distribution
        return self.name


@dataclass(frozen=True)
class Spec:
    """One registered model, layer, dataset, optimizer, schedule, trainer or zoo entry.

    ``factory`` builds the thing from keyword arguments; ``defaults`` are applied under the
    caller's arguments; ``metadata`` holds kind-specific extras (tags, task, repo id, ...).
    ``replaces`` is the record an ``override=True`` registration took the place of.
    """

    kind: str
    name: str
    factory: Callable[..., Any] | str
    plugin: PluginInfo
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    override: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    replaces: Spec | None = field(default=None, repr=False, compare=False)

    @property
    def factory_path(self) -> str:
        """Where the factory lives, as ``module:attr``, without importing it."""
        if isinstance(self.factory, str):
            return self.factory
        module = getattr(self.factory, "__module__", "?")
        return f"{module}:{getattr(self.factory, '__qualname__', repr(self.factory))}"

    def load(self) -> Callable[..., Any]:
        """Return the factory, importing it first when it was given as a string."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else []:
                target = getattr(target, part)
        except Exception as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} from plugin {self.plugin.label}: cannot import its "
                f"factory {self.factory!r} ({type(exc).__name__}: {exc})"
            ) from exc
        if not callable(target):
            raise PluginError(
                f"{self.kind} {self.name!r} from plugin {self.plugin.label}: factory "
                f"{self.factory!r} is not callable"
            )
        return target

    def argument_names(self) -> set[str]:
        """The names the factory takes (imports it): what a caller may pass sizes such as
        ``input_size`` to. A factory without a signature: its defaults plus ``input_size``
        and ``vocab_size``."""
        try:
            return set(inspect.signature(self.load()).parameters)
        except (TypeError, ValueError):
            return set(self.defaults) | {"input_size", "vocab_size"}

    def create(self, /, **config: Any) -> Any:
        """Build the thing: ``factory(**{**defaults, **config})``, arguments checked first."""
        factory = self.load()
        arguments = {**self.defaults, **config}
        check_arguments(factory, arguments, what=f"{self.kind} {self.name!r}")
        built = factory(**arguments)
        if self.kind == "model":
            # a model remembers the name it was built under, so it can be saved and rebuilt
            with contextlib.suppress(AttributeError):  # __slots__ or read-only attributes
                built.registry_name = self.name
        return built


def check_arguments(
    factory: Callable[..., Any],
    arguments: Mapping[str, Any],
    *,
    what: str,
    path: str | None = None,
    supplied: tuple[str, ...] = (),
) -> None:
    """Raise :class:`ConfigError` for an unknown or a missing argument of ``factory``.

    ``supplied`` names arguments the caller passes itself (``input_size`` in composition).
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return
    parameters = [
        p
        for p in signature.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL,)
    ]
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    named = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
    if not accepts_any:
        for key in arguments:
            if key not in named:
                close = difflib.get_close_matches(key, named, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                valid = ", ".join(n for n in named if n not in supplied) or "none"
                raise ConfigError(
                    f"{what} has no argument {key!r}; {hint}its arguments are: {valid}",
                    path=path,
                    field=key,
                )
    for parameter in parameters:
        if (
            parameter.default is inspect.Parameter.empty
            and parameter.kind is not inspect.Parameter.VAR_KEYWORD
            and parameter.name not in arguments
            and parameter.name not in supplied
        ):
            raise ConfigError(
                f"{what} needs the argument {parameter.name!r}; add `{parameter.name}: ...`",
                path=path,
                field=parameter.name,
            )
