"""The registry: finds plugins, collects what they register, answers lookups.

Plugins come from the ``seqzoo`` entry-point group (the built-ins too) and from objects passed
in directly. Each plugin is imported, checked against the hook API, registered with pluggy and
asked for its records; a plugin that fails any of that is recorded with its error and left out,
so the rest keep working (``SEQZOO_STRICT_PLUGINS=1`` turns failures into errors).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from .specs import KINDS, PluginInfo, Spec

__all__ = ["ENTRY_POINT_GROUP", "ENV_LOAD_PLUGINS", "ENV_STRICT", "PluginRecord", "Registry"]

ENTRY_POINT_GROUP = "seqzoo"
#: Which third-party plugins load: unset or ``all`` (every one), ``none``, or a comma list of
#: entry-point or distribution names. The built-ins always load.
ENV_LOAD_PLUGINS = "SEQZOO_LOAD_PLUGINS"
#: ``1``: a plugin that fails to import or register is an error instead of a recorded failure.
ENV_STRICT = "SEQZOO_STRICT_PLUGINS"
BUILTIN_DISTRIBUTION = "seqzoo"

# hook name -> the kinds its register callables produce, in argument order
_REGISTER_HOOKS: dict[str, tuple[tuple[str, str], ...]] = {
    "register_models": (("register", "model"),),
    "register_layers": (("register", "layer"),),
    "register_datasets": (("register", "dataset"),),
    "register_optimizers": (("register", "optimizer"), ("register_schedule", "schedule")),
    "register_trainers": (("register", "trainer"),),
    "register_zoo": (("register", "zoo"),),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@-]*$")


@dataclass
class PluginRecord:
    """One plugin as ``seqzoo plugins`` shows it: where it came from and how loading went."""

    info: PluginInfo
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)  # kind -> names

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.info.name,
            "distribution": self.info.distribution,
            "version": self.info.version,
            "hooks": self.hooks,
            "registered": self.registered,
            "error": self.error,
        }


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Registry:
    """Everything the loaded plugins registered, by kind and name.

    ``Registry()`` discovers entry points; ``Registry(plugins=[module], entry_points=False)``
    builds one from given plugin objects only (what tests do). ``load_plugins`` and ``strict``
    default to the ``SEQZOO_LOAD_PLUGINS`` and ``SEQZOO_STRICT_PLUGINS`` environment variables.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        entry_points: bool = True,
        load_plugins: str | None = None,
        strict: bool | None = None,
    ) -> None:
        self.strict = _env_flag(ENV_STRICT) if strict is None else strict
        selection = os.environ.get(ENV_LOAD_PLUGINS) if load_plugins is None else load_plugins
        self._selection = _parse_selection(selection)
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._records: dict[str, dict[str, Spec]] = {kind: {} for kind in KINDS}
        self._plugins: list[PluginRecord] = []
        self._objects: dict[str, object] = {}  # plugin name -> plugin object (loaded ones)

        if entry_points:
            for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
                self._load_entry_point(entry_point)
        for plugin in plugins:
            self.add_plugin(plugin)

    # -- loading ---------------------------------------------------------------------------

    def _selected(self, info: PluginInfo) -> bool:
        if info.distribution == BUILTIN_DISTRIBUTION or self._selection is None:
            return True
        names = {_normalize(info.name), _normalize(info.distribution or "")}
        return bool(names & self._selection)

    def _load_entry_point(self, entry_point: metadata.EntryPoint) -> None:
        dist = getattr(entry_point, "dist", None)
        info = PluginInfo(
            name=entry_point.name,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        if not self._selected(info):
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # any import failure of a plugin must not stop the others
            message = f"{_label(info)} cannot be imported ({entry_point.value!r}): {_why(exc)}"
            self._fail(PluginRecord(info), message)
            return
        self._add(plugin, info)

    def add_plugin(self, plugin: object, name: str | None = None) -> PluginRecord:
        """Register a plugin object (a module, or any object with hookimpls) directly."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        return self._add(plugin, PluginInfo(name=name))

    def _add(self, plugin: object, info: PluginInfo) -> PluginRecord:
        record = PluginRecord(info)
        label = _label(info)
        stated = getattr(plugin, "SEQZOO_HOOK_API", hookspecs.HOOK_API_VERSION)
        if stated != hookspecs.HOOK_API_VERSION:
            return self._fail(
                record,
                f"{label} is written for seqzoo hook API {stated}, but this seqzoo provides "
                f"hook API {hookspecs.HOOK_API_VERSION}; install a version of the plugin made "
                f"for API {hookspecs.HOOK_API_VERSION}",
            )
        if info.name in self._objects or self._manager.is_registered(plugin):
            return self._fail(record, f"{label}: this plugin is already loaded")
        try:
            self._manager.register(plugin, name=info.name)
        except Exception as exc:  # pluggy's validation: bad hook arguments
            return self._fail(record, f"{label} has an invalid hook: {_why(exc)}")
        try:
            # a hookimpl whose name matches no hookspec (a typo) is reported, not ignored
            self._manager.check_pending()
        except pluggy.PluginValidationError as exc:
            self._manager.unregister(plugin)
            return self._fail(record, f"{label} implements an unknown hook: {_why(exc)}")
        record.hooks = sorted(caller.name for caller in self._manager.get_hookcallers(plugin) or [])

        staged: list[Spec] = []
        try:
            for hook_name, arguments in _REGISTER_HOOKS.items():
                for impl in self._impls_of(hook_name, info.name):
                    callables = {
                        arg: self._register_callable(kind, info, staged) for arg, kind in arguments
                    }
                    impl.function(**{arg: callables[arg] for arg in impl.argnames})
        except Exception as exc:
            self._manager.unregister(plugin)
            return self._fail(record, f"{label} failed while registering: {_why(exc)}")
        for spec in staged:
            self._insert(spec)
            record.registered.setdefault(spec.kind, []).append(spec.name)
        self._objects[info.name] = plugin
        self._plugins.append(record)
        return record

    def _impls_of(self, hook_name: str, plugin_name: str) -> list[pluggy.HookImpl]:
        caller = getattr(self._manager.hook, hook_name)
        return [impl for impl in caller.get_hookimpls() if impl.plugin_name == plugin_name]

    def _register_callable(
        self, kind: str, info: PluginInfo, staged: list[Spec]
    ) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any] | str,
            *,
            description: str = "",
            defaults: Mapping[str, Any] | None = None,
            override: bool = False,
            **extra: Any,
        ) -> None:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ConfigError(
                    f"{kind} name {name!r} must be a non-empty string of letters, digits, "
                    "'-', '_', '.', '/' or '@'"
                )
            # a zoo entry's factory is a Hub repo id or a directory; other kinds need code
            if kind == "zoo" and isinstance(factory, os.PathLike):
                factory = os.fspath(factory)
            code_like = callable(factory) or (isinstance(factory, str) and ":" in factory)
            zoo_like = kind == "zoo" and isinstance(factory, str) and bool(factory)
            if not (code_like or zoo_like):
                raise ConfigError(
                    f"{kind} {name!r}: factory must be callable or a 'package.module:attr' "
                    f"string, got {factory!r}"
                )
            staged.append(
                Spec(
                    kind=kind,
                    name=name,
                    factory=factory,
                    plugin=info,
                    description=(description.strip().splitlines() or [""])[0],
                    defaults=dict(defaults or {}),
                    override=override,
                    metadata=extra,
                )
            )

        return register

    def _insert(self, spec: Spec) -> None:
        table = self._records[spec.kind]
        old = table.get(spec.name)
        if old is None or (spec.override and not old.override):
            table[spec.name] = spec
        elif old.override and not spec.override:
            return  # the earlier record explicitly overrides this one
        else:
            raise DuplicateNameError(
                f"{spec.kind} {spec.name!r} is registered by two plugins: "
                f"{old.plugin.name!r} ({old.plugin.label}) and "
                f"{spec.plugin.name!r} ({spec.plugin.label}); uninstall one, or have one "
                "register it with override=True"
            )

    def _fail(self, record: PluginRecord, message: str) -> PluginRecord:
        record.error = message
        self._plugins.append(record)
        if self.strict:
            raise PluginError(f"{message} (strict mode: {ENV_STRICT} is set)")
        return record

    # -- queries ---------------------------------------------------------------------------

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, loaded or failed, in load order."""
        return list(self._plugins)

    @property
    def failures(self) -> list[PluginRecord]:
        return [p for p in self._plugins if not p.ok]

    def names(self, kind: str) -> list[str]:
        return sorted(self._table(kind))

    def list(self, kind: str, pattern: str = "*") -> list[Spec]:
        """Records of ``kind`` whose name matches the shell-style ``pattern`` (any case)."""
        table = self._table(kind)
        pattern = pattern.lower()
        return [table[n] for n in sorted(table) if fnmatch.fnmatchcase(n.lower(), pattern)]

    def get(self, kind: str, name: str) -> Spec:
        """The record of ``kind`` called ``name``; an unknown name suggests the closest."""
        table = self._table(kind)
        try:
            return table[name]
        except KeyError:
            raise UnknownNameError(kind, name, table) from None

    def find(self, name: str) -> list[Spec]:
        """Every record called ``name``, of any kind; raises with suggestions if there is none."""
        found = [table[name] for table in self._records.values() if name in table]
        if not found:
            everything = {n for table in self._records.values() for n in table}
            raise UnknownNameError("name", name, everything)
        return found

    def create(self, kind: str, name: str, /, **config: Any) -> Any:
        """Build the ``kind`` called ``name`` from ``config`` (over its registered defaults)."""
        return self.get(kind, name).create(**config)

    def add_commands(self, cli: Any) -> None:
        """Call every plugin's ``register_commands(cli)``; a failing plugin is recorded."""
        for impl in self._manager.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                message = f"plugin {impl.plugin_name!r}: register_commands failed: {_why(exc)}"
                record = next((p for p in self._plugins if p.info.name == impl.plugin_name), None)
                if record is not None:
                    record.error = message
                if self.strict:
                    raise PluginError(message) from exc

    def __iter__(self) -> Iterator[Spec]:
        for kind in KINDS:
            yield from self.list(kind)

    def _table(self, kind: str) -> dict[str, Spec]:
        try:
            return self._records[kind]
        except KeyError:
            raise UnknownNameError("kind", kind, KINDS) from None


def _parse_selection(value: str | None) -> set[str] | None:
    if value is None or value.strip().lower() == "all":
        return None
    if value.strip().lower() in ("", "none"):
        return set()
    return {_normalize(part) for part in value.split(",") if part.strip()}


def _normalize(name: str) -> str:
    """Distribution names compare as packaging does: ``Seqzoo_TCN`` is ``seqzoo-tcn``."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _label(info: PluginInfo) -> str:
    return f"plugin {info.name!r}" + (f" ({info.label})" if info.distribution else "")


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
