"""The registry: finds plugins, collects what they register, answers lookups.

The built-in plugins load first, by their module names (:data:`BUILTIN_PLUGINS`), so a plain
checkout needs no installed metadata. Outside plugins come from the ``seqzoo`` entry-point
group, each keyed ``distribution:entry-point`` (``seqzoo-tcn:tcn``), so none can take a
built-in's place. Each plugin is imported, checked against the hook API, registered with
pluggy and asked for its records; a plugin that fails any of that (a name another plugin
already registered included) is recorded with its error, warned about and left out whole, so
the rest keep working. ``SEQZOO_STRICT_PLUGINS=1`` turns failures into errors.
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import importlib
import os
import re
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from .specs import KINDS, PluginInfo, Spec

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_DEBUG",
    "ENV_LOAD_PLUGINS",
    "ENV_STRICT",
    "PluginRecord",
    "PluginWarning",
    "Registry",
]

ENTRY_POINT_GROUP = "seqzoo"
#: The built-in plugins, imported by name (``seqzoo.core`` does not depend on their code) and
#: registered first, under these names, whatever entry-point metadata is installed.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "seqzoo.plugins.models",
    "seqzoo.plugins.layers",
    "seqzoo.plugins.datasets",
    "seqzoo.plugins.optimizers",
    "seqzoo.plugins.trainers",
    "seqzoo.plugins.commands",
    "seqzoo.zoo.catalogue",
)
#: Which outside plugins load: unset or ``all`` (every one), ``none``, or a comma list of
#: plugin (``dist:name``), entry-point or distribution names. The built-ins always load.
ENV_LOAD_PLUGINS = "SEQZOO_LOAD_PLUGINS"
#: ``1``: a plugin that fails to import or register is an error instead of a recorded failure.
ENV_STRICT = "SEQZOO_STRICT_PLUGINS"
#: ``1``: a failed plugin's warning carries its traceback.
ENV_DEBUG = "SEQZOO_DEBUG"
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
# the keywords of ``register``: an extra keyword close to one of these is a typo, not metadata
_REGISTER_KEYWORDS = ("name", "factory", "description", "defaults", "override", "metadata")


class PluginWarning(UserWarning):
    """A plugin left out (its error is in ``seqzoo plugins``), or a plugin selection that
    names no installed plugin."""


@dataclass
class PluginRecord:
    """One plugin as ``seqzoo plugins`` shows it: where it came from and how loading went."""

    info: PluginInfo
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)  # kind -> names
    traceback: str | None = None  # of the plugin's own exception, when it raised one

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.info.name,
            "distribution": self.info.distribution,
            "version": self.info.version,
            "entry_point": self.info.entry_point,
            "hooks": self.hooks,
            "registered": self.registered,
            "error": self.error,
        }


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Registry:
    """Everything the loaded plugins registered, by kind and name.

    ``Registry()`` loads the built-ins and the installed entry points;
    ``Registry(plugins=[module], entry_points=False)`` builds one from given plugin objects only
    (what tests do). ``load_plugins`` and ``strict`` default to the ``SEQZOO_LOAD_PLUGINS`` and
    ``SEQZOO_STRICT_PLUGINS`` environment variables.
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
        self.debug = _env_flag(ENV_DEBUG)
        from_env = load_plugins is None
        selection = os.environ.get(ENV_LOAD_PLUGINS) if from_env else load_plugins
        self._selection = _parse_selection(selection)
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._records: dict[str, dict[str, Spec]] = {kind: {} for kind in KINDS}
        self._plugins: list[PluginRecord] = []
        self._objects: dict[str, object] = {}  # plugin name -> plugin object (loaded ones)

        if entry_points:
            for module_name in BUILTIN_PLUGINS:
                self._load_builtin(module_name)
            outside = _outside_entry_points()
            self._check_selection(outside, ENV_LOAD_PLUGINS if from_env else "load_plugins")
            for info, entry_point in outside:
                if self._selected(info):
                    self._load_entry_point(entry_point, info)
        for plugin in plugins:
            self.add_plugin(plugin)

    # -- loading ---------------------------------------------------------------------------

    def _selected(self, info: PluginInfo) -> bool:
        if self._selection is None:
            return True
        return bool(_plugin_names(info) & self._selection)

    def _check_selection(self, outside: list[tuple[PluginInfo, Any]], source: str) -> None:
        """Warn about selected names that match no installed plugin: a typo there would
        silently leave every outside plugin out."""
        if not self._selection:
            return
        known = {_normalize(BUILTIN_DISTRIBUTION)}
        known.update(_normalize(name) for name in BUILTIN_PLUGINS)
        installed: set[str] = set()
        for info, _ in outside:
            installed |= _plugin_names(info)
        for name in sorted(self._selection - known - installed):
            close = difflib.get_close_matches(name, sorted(installed), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            plugins = ", ".join(sorted(info.name for info, _ in outside)) or "none"
            warnings.warn(
                f"{source} names {name!r}, which matches no installed plugin, so it loads "
                f"nothing; {hint}installed plugins: {plugins} (a plugin's name, its "
                "distribution or its entry-point name selects it)",
                PluginWarning,
                stacklevel=3,
            )

    def _load_builtin(self, module_name: str) -> None:
        info = PluginInfo(
            name=module_name, distribution=BUILTIN_DISTRIBUTION, version=_seqzoo_version()
        )
        try:
            plugin = importlib.import_module(module_name)
        except Exception as exc:  # a broken built-in must not stop the rest either
            self._fail(PluginRecord(info), f"{_label(info)} cannot be imported: {_why(exc)}", exc)
            return
        self._add(plugin, info)

    def _load_entry_point(self, entry_point: metadata.EntryPoint, info: PluginInfo) -> None:
        try:
            plugin = entry_point.load()
        except Exception as exc:  # any import failure of a plugin must not stop the others
            message = f"{_label(info)} cannot be imported ({entry_point.value!r}): {_why(exc)}"
            self._fail(PluginRecord(info), message, exc)
            return
        self._add(plugin, info)

    def add_plugin(self, plugin: object, name: str | None = None) -> PluginRecord:
        """Register a plugin object (a module, or any object with hookimpls) directly."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        return self._add(plugin, PluginInfo(name=name))

    def _add(self, plugin: object, info: PluginInfo) -> PluginRecord:
        record = PluginRecord(info)
        label = _label(info)
        problem = _hook_api_problem(getattr(plugin, "SEQZOO_HOOK_API", hookspecs.HOOK_API_VERSION))
        if problem:
            return self._fail(record, f"{label} {problem}")
        if info.name in self._objects or self._manager.is_registered(plugin):
            return self._fail(record, f"{label}: this plugin is already loaded")
        try:
            self._manager.register(plugin, name=info.name)
        except Exception as exc:  # pluggy's validation: bad hook arguments
            return self._fail(record, f"{label} has an invalid hook: {_why(exc)}")
        callers = self._manager.get_hookcallers(plugin) or []
        # a hookimpl whose name matches no hookspec (a typo) is reported, not ignored
        unknown = [c.name for c in callers if not c.has_spec() and not _optional(c, info.name)]
        if unknown:
            self._manager.unregister(plugin)
            return self._fail(record, f"{label} implements {_unknown_hooks(unknown)}")
        record.hooks = sorted(caller.name for caller in callers if caller.has_spec())

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
            return self._fail(record, f"{label} failed while registering: {_why(exc)}", exc)
        try:
            placed = self._place(staged)
        except DuplicateNameError as exc:
            self._manager.unregister(plugin)
            return self._fail(record, str(exc), duplicate=True)
        for spec in placed:
            self._records[spec.kind][spec.name] = spec
        for spec in staged:
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
            metadata: Mapping[str, Any] | None = None,
            **extra: Any,
        ) -> None:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ConfigError(
                    f"{kind} name {name!r} must be a non-empty string of letters, digits, "
                    "'-', '_', '.', '/' or '@'"
                )
            _check_extra_keywords(kind, name, extra)
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
                    metadata={**dict(metadata or {}), **extra},
                )
            )

        return register

    def _place(self, staged: list[Spec]) -> list[Spec]:
        """The records ``staged`` puts in the tables (overrides carry what they replace);
        raises :class:`DuplicateNameError` on a clash, before anything is changed."""
        placed: dict[tuple[str, str], Spec] = {}
        for spec in staged:
            key = (spec.kind, spec.name)
            if key in placed:
                raise DuplicateNameError(
                    f"{_label(spec.plugin)} registers {spec.kind} {spec.name!r} twice"
                )
            old = self._records[spec.kind].get(spec.name)
            if old is None:
                placed[key] = spec
            elif spec.override and not old.override:
                placed[key] = replace(spec, replaces=old)
            elif old.override and not spec.override:
                # the earlier record explicitly overrides this one: it stays, and says so
                placed[key] = replace(old, replaces=old.replaces or spec)
            else:
                raise DuplicateNameError(_duplicate_message(old, spec))
        return list(placed.values())

    def _fail(
        self,
        record: PluginRecord,
        message: str,
        exc: BaseException | None = None,
        *,
        duplicate: bool = False,
    ) -> PluginRecord:
        record.error = message
        if exc is not None:
            record.traceback = "".join(traceback.format_exception(exc)).rstrip()
        self._plugins.append(record)
        if self.strict:
            error = DuplicateNameError if duplicate else PluginError
            raise error(f"{message} (strict mode: {ENV_STRICT} is set)") from exc
        text = message
        if self.debug and record.traceback:
            text = f"{message}\n{record.traceback}"
        warnings.warn(text, PluginWarning, stacklevel=3)
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

    def find(self, name: str) -> builtins.list[Spec]:
        """Every record called ``name``, of any kind; raises with suggestions if there is none."""
        found = [table[name] for table in self._records.values() if name in table]
        if not found:
            everything = {n for table in self._records.values() for n in table}
            raise UnknownNameError("name", name, everything)
        return found

    def create(self, kind: str, name: str, /, **config: Any) -> Any:
        """Build the ``kind`` called ``name`` from ``config`` (over its registered defaults)."""
        return self.get(kind, name).create(**config)

    def check(self) -> builtins.list[tuple[Spec, PluginError]]:
        """Import every registered factory (what ``seqzoo plugins --check`` does): the records
        whose factory cannot be imported or is not callable, each with its error. Zoo entries
        are data (a repo id or a folder), not code, and are not imported."""
        problems: list[tuple[Spec, PluginError]] = []
        for spec in self:
            if spec.kind == "zoo":
                continue
            try:
                spec.load()
            except PluginError as exc:
                problems.append((spec, exc))
        return problems

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
                    record.traceback = "".join(traceback.format_exception(exc)).rstrip()
                if self.strict:
                    raise PluginError(f"{message} (strict mode: {ENV_STRICT} is set)") from exc
                warnings.warn(message, PluginWarning, stacklevel=2)

    def __iter__(self) -> Iterator[Spec]:
        for kind in KINDS:
            yield from self.list(kind)

    def _table(self, kind: str) -> dict[str, Spec]:
        try:
            return self._records[kind]
        except KeyError:
            raise UnknownNameError("kind", kind, KINDS) from None


def _outside_entry_points() -> list[tuple[PluginInfo, metadata.EntryPoint]]:
    """The installed ``seqzoo`` entry points of other distributions, keyed and sorted by
    ``distribution:name`` (the load order, whatever the order on ``sys.path``)."""
    found: dict[str, tuple[PluginInfo, metadata.EntryPoint]] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry_point, "dist", None)
        distribution = dist.name if dist else None
        # seqzoo's own (older) metadata may list the built-ins; they are loaded by module name
        if entry_point.module in BUILTIN_PLUGINS or (
            distribution and _normalize(distribution) == BUILTIN_DISTRIBUTION
        ):
            continue
        key = f"{distribution or entry_point.module}:{entry_point.name}"
        info = PluginInfo(
            name=key,
            distribution=distribution,
            version=dist.version if dist else None,
            entry_point=entry_point.name,
        )
        found.setdefault(key, (info, entry_point))
    return [found[key] for key in sorted(found)]


def _seqzoo_version() -> str:
    from seqzoo import __version__

    return __version__


def _plugin_names(info: PluginInfo) -> set[str]:
    """Every name that selects this plugin in ``SEQZOO_LOAD_PLUGINS``, normalized."""
    names = {info.name, info.entry_point or "", info.distribution or ""}
    return {_normalize(name) for name in names if name}


def _optional(caller: pluggy.HookCaller, plugin_name: str) -> bool:
    impls = [impl for impl in caller.get_hookimpls() if impl.plugin_name == plugin_name]
    return all(impl.optionalhook for impl in impls)


def _hook_names() -> list[str]:
    return sorted(
        name
        for name in dir(hookspecs)
        if callable(getattr(hookspecs, name))
        and getattr(getattr(hookspecs, name), f"{hookspecs.PROJECT_NAME}_spec", None) is not None
    )


def _unknown_hooks(names: list[str]) -> str:
    """``"an unknown hook 'register_model' (did you mean 'register_models'?) ..."``"""
    hooks = _hook_names()
    parts = []
    for name in sorted(names):
        close = difflib.get_close_matches(name, hooks, n=1, cutoff=0.6)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    what = "an unknown hook" if len(parts) == 1 else "unknown hooks"
    return f"{what} {', '.join(parts)}; the hooks are: {', '.join(hooks)}"


def _hook_api_problem(stated: object) -> str | None:
    """Why a plugin's ``SEQZOO_HOOK_API`` rules it out, or ``None`` when it fits.

    An int or a string of digits (``"1"``) states a version; anything else is a mistake.
    """
    expected = hookspecs.HOOK_API_VERSION
    version: int | None = None
    if isinstance(stated, int) and not isinstance(stated, bool):
        version = stated
    elif isinstance(stated, str) and stated.strip().isdigit():
        version = int(stated.strip())
    if version is None:
        return (
            f"sets SEQZOO_HOOK_API = {stated!r} ({type(stated).__name__}); it must be the "
            f"integer hook API version the plugin is written for, e.g. SEQZOO_HOOK_API = "
            f"{expected}"
        )
    if version != expected:
        return (
            f"is written for seqzoo hook API {version}, but this seqzoo provides hook API "
            f"{expected}; install a version of the plugin made for API {expected}"
        )
    return None


def _check_extra_keywords(kind: str, name: str, extra: Mapping[str, Any]) -> None:
    """A metadata keyword that is a near miss of a real one (``defualts=``) is a typo."""
    for key in extra:
        close = difflib.get_close_matches(key, _REGISTER_KEYWORDS, n=1, cutoff=0.8)
        prefix = [k for k in _REGISTER_KEYWORDS if len(key) >= 4 and k.startswith(key)]
        match = close[0] if close else prefix[0] if prefix else None
        if match is not None:
            raise ConfigError(
                f"{kind} {name!r}: unknown register() keyword {key!r}; did you mean {match!r}? "
                "Its keywords are description, defaults, override and metadata, and any other "
                f"keyword is stored as metadata (to store {key!r} on purpose, pass "
                f"metadata={{{key!r}: ...}})"
            )


def _duplicate_message(old: Spec, new: Spec) -> str:
    uninstall = (
        f" (`pip uninstall {new.plugin.distribution}`)"
        if new.plugin.distribution and new.plugin.distribution != BUILTIN_DISTRIBUTION
        else ""
    )
    return (
        f"{new.kind} {new.name!r} is registered by two plugins: {old.plugin.name!r} "
        f"({old.plugin.label}) and, later, {new.plugin.name!r} ({new.plugin.label}), so "
        f"{new.plugin.name!r} is not loaded. Ways out: uninstall one{uninstall}; have one "
        f"register it with override=True to replace the other's record; or leave one out with "
        f"{ENV_LOAD_PLUGINS} (a comma list of the plugins to load, or none)"
    )


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
