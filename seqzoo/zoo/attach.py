"""Making a file's tensors the parameters and buffers of a model built on the meta device.

A model whose modules keep PyTorch's own state-dict machinery (no override of
``_load_from_state_dict``, ``load_state_dict``, ``state_dict``, ``_save_to_state_dict``,
``get_extra_state`` / ``set_extra_state`` or ``__setattr__``, no state-dict hooks) and whose
file holds exactly its keys and shapes gets the tensors put into its modules' parameter and
buffer tables directly: what ``load_state_dict(assign=True)`` does for such a model, without
its per-module bookkeeping. Anything else (a custom module, hooks, missing or unexpected keys,
a shape mismatch) goes through ``load_state_dict(assign=True)``, which also words the errors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import torch
from torch import nn
from torch.nn.modules import module as torch_module

from seqzoo.core.errors import WeightsError

from .dtypes import check_dtypes
from .hub import CONFIG_NAME

__all__ = ["assign_weights", "key_mismatch", "unmaterialised", "unreadable"]


def unreadable(path: Path, where: str, exc: Exception) -> WeightsError:
    """The error for a weights file safetensors cannot read."""
    return WeightsError(
        f"{where}: {path.name} is corrupt or truncated and cannot be read as safetensors "
        f"({exc}); download or save it again"
    )


def key_mismatch(path: Path, where: str, missing: Iterable[str], unexpected: Iterable[str]) -> None:
    """The strict-loading error listing both kinds of key mismatch (nothing when none)."""
    parts = []
    if missing:
        parts.append("missing keys (in the model, not in the file): " + ", ".join(sorted(missing)))
    if unexpected:
        parts.append(
            "unexpected keys (in the file, not in the model): " + ", ".join(sorted(unexpected))
        )
    if parts:
        raise WeightsError(
            f"{where}: {path.name} does not match the model built from {CONFIG_NAME}: "
            + "; ".join(parts)
            + ". Pass strict=False to load the keys that match anyway"
        )


#: Types of attribute that are never tensors, skipped by a set lookup (most attributes are one)
_NOT_TENSORS = frozenset({bool, int, float, str, type(None), dict, set, OrderedDict})


def _meta_attributes(prefix: str, module: nn.Module) -> list[str]:
    """Tensors (or lists and tuples of them) ``module`` keeps as plain attributes that are
    still on the meta device."""
    names = []
    for attribute, value in vars(module).items():
        if type(value) in _NOT_TENSORS:
            continue  # a load runs this over every attribute of every module: keep it cheap
        if isinstance(value, torch.Tensor):
            meta = value.is_meta
        elif isinstance(value, (list, tuple)):
            meta = any(isinstance(v, torch.Tensor) and v.is_meta for v in value)
        else:
            continue
        if meta:
            names.append(prefix + attribute)
    return names


def unmaterialised(model: nn.Module) -> list[str]:
    """Names of tensors still on the meta device: parameters or buffers the file did not give
    (non-persistent buffers, keys missing under ``strict=False``) and tensors a module keeps as
    plain attributes (or lists of them)."""
    names = [n for n, t in model.named_parameters(remove_duplicate=False) if t.is_meta]
    names += [n for n, t in model.named_buffers(remove_duplicate=False) if t.is_meta]
    for prefix, module in model.named_modules():
        names += _meta_attributes(f"{prefix}." if prefix else "", module)
    return names


# -- the direct way -----------------------------------------------------------------------------

#: The methods and hooks through which a module takes part in saving and loading its state.
_STATE_METHODS = (
    "_load_from_state_dict",
    "load_state_dict",
    "state_dict",
    "_save_to_state_dict",
    "get_extra_state",
    "set_extra_state",
)
_HOOKS = (
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
#: Whether a module class keeps PyTorch's own state-dict machinery (computed once per class;
#: a plain dict, as a weak one costs a reference per lookup and classes are few).
_PLAIN_CLASSES: dict[type, bool] = {}


def _plain_class(cls: type) -> bool:
    known = _PLAIN_CLASSES.get(cls)
    if known is None:
        same = all(getattr(cls, m, None) is getattr(nn.Module, m) for m in _STATE_METHODS)
        # RNNBase.__setattr__ only keeps _flat_weights current: rebuilt after attaching
        setter = cls.__setattr__
        rnn = issubclass(cls, nn.RNNBase) and hasattr(cls, "_init_flat_weights")
        known = same and (
            setter is nn.Module.__setattr__ or (rnn and setter is nn.RNNBase.__setattr__)
        )
        _PLAIN_CLASSES[cls] = known
    return known


#: One tensor slot of a model: (state-dict key, its module, attribute name, the tensor there,
#: whether it is a parameter).
_Slot = tuple[str, nn.Module, str, torch.Tensor, bool]


def _slots(model: nn.Module) -> tuple[list[_Slot], list[nn.Module]] | None:
    """Every state-dict slot of ``model`` (the keys ``state_dict`` gives: a shared module or
    a tied tensor once per name) and its modules; ``None`` when a module takes part in loading
    in a way of its own, which the direct way would bypass."""
    slots: list[_Slot] = []
    modules: list[nn.Module] = []
    stack: list[tuple[str, nn.Module]] = [("", model)]
    while stack:
        prefix, module = stack.pop()
        own = module.__dict__
        if not _plain_class(type(module)) or any(own.get(h) for h in _HOOKS):
            return None
        modules.append(module)
        for name, param in module._parameters.items():
            if param is not None:
                if type(param) is not nn.Parameter and torch.nn.parameter.is_lazy(param):
                    return None
                slots.append((prefix + name, module, name, param, True))
        skipped = module._non_persistent_buffers_set
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in skipped:
                slots.append((prefix + name, module, name, buffer, False))
        children = [(f"{prefix}{n}.", m) for n, m in module._modules.items() if m is not None]
        stack.extend(reversed(children))
    return slots, modules


def _attach(
    model: nn.Module, state: dict[str, torch.Tensor], path: Path, where: str
) -> list[nn.Module] | None:
    """Put ``state``'s tensors into ``model``'s parameter and buffer tables, as
    ``load_state_dict(assign=True)`` would, where that is provably the same thing: PyTorch's
    own machinery throughout, every key of the model in the file and no other, every shape
    equal. Returns the model's modules, or ``None`` (nothing changed) when not so; the caller
    then loads the usual way."""
    if (
        getattr(torch_module, "_global_parameter_registration_hooks", None)
        or getattr(torch_module, "_global_buffer_registration_hooks", None)
        or torch.__future__.get_swap_module_params_on_conversion()
    ):
        return None  # load_state_dict would run those hooks, or swap instead of assign
    walked = _slots(model)
    if walked is None:
        return None
    slots, modules = walked
    # a tensor tied under several names is one group, stored once in the file
    given: dict[int, torch.Tensor] = {}
    found = 0
    for key, _, _, tensor, _ in slots:
        value = state.get(key)
        if value is not None:
            found += 1
            if value.shape != tensor.shape:
                return None  # load_state_dict words the mismatch
            given.setdefault(id(tensor), value)
    if found != len(state) or any(id(t) not in given for _, _, _, t, _ in slots):
        return None  # unexpected or missing keys: load_state_dict lists them
    if any(state[k].dtype != t.dtype for k, _, _, t, _ in slots if k in state):
        own = {k: t for k, _, _, t, _ in slots}
        check_dtypes({k: v.dtype for k, v in state.items()}, own, path, where)
    made: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for _, module, attribute, tensor, is_param in slots:
            new = made.get(id(tensor))
            if new is None:
                new = given[id(tensor)]
                if new.dtype != tensor.dtype:
                    new = new.to(tensor.dtype)  # as a copy into the parameter casts
                if is_param:
                    new = nn.Parameter(new, requires_grad=tensor.requires_grad)
                made[id(tensor)] = new
            if is_param:
                module._parameters[attribute] = cast(nn.Parameter, new)  # made one above
            else:
                module._buffers[attribute] = new
    for module in modules:
        if isinstance(module, nn.RNNBase):
            module._init_flat_weights()  # its cached list still held the meta tensors
    return modules


def _all_real(modules: list[nn.Module]) -> bool:
    """Whether no buffer or plain tensor attribute of ``modules`` is left on the meta device
    (after :func:`_attach`, which gave every parameter and persistent buffer)."""
    for module in modules:
        if any(b is not None and b.is_meta for b in module._buffers.values()):
            return False
        if _meta_attributes("", module):
            return False
    return True


# -- through load_state_dict ----------------------------------------------------------------------


def _load_state(
    model: nn.Module, state: dict[str, torch.Tensor], strict: bool, path: Path, where: str
) -> bool:
    """:func:`assign_weights` through ``load_state_dict(assign=True)``: for any model."""
    own = model.state_dict(keep_vars=True)
    check_dtypes({n: t.dtype for n, t in state.items()}, own, path, where)
    groups: dict[int, list[str]] = {}
    for name, tensor in own.items():
        groups.setdefault(id(tensor), []).append(name)
    state = dict(state)
    for names in groups.values():
        given = next((n for n in names if n in state), None)
        for name in names:
            if given is not None and name not in state:
                state[name] = state[given]  # a tied alias the file stores once
            value = state.get(name)
            if value is not None and value.dtype != own[name].dtype:
                state[name] = value.to(own[name].dtype)  # as a copy into the parameter casts
    try:
        missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:  # size mismatches between the file and the built model
        raise WeightsError(
            f"{where}: {path.name} does not fit the model built from {CONFIG_NAME}: {exc}"
        ) from None
    if strict:
        key_mismatch(path, where, missing, unexpected)
    tied = [names for names in groups.values() if len(names) > 1]
    if tied:  # assign gave each alias a Parameter of its own: tie them again
        now = model.state_dict(keep_vars=True)
        for names in tied:
            for alias in names[1:]:
                owner, _, attribute = alias.rpartition(".")
                setattr(model.get_submodule(owner), attribute, now[names[0]])
    if unmaterialised(model):
        return False
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            module.flatten_parameters()  # one contiguous weight block for cuDNN (no-op on CPU)
    return True


def assign_weights(
    model: nn.Module, state: dict[str, torch.Tensor], strict: bool, path: Path, where: str
) -> bool:
    """Make ``state``'s tensors the parameters and buffers of ``model`` (built on the meta
    device): no copy, no initialisation. Tensors shared under several names (tied weights,
    stored once in the file) are shared again. Returns whether every tensor of the model is
    now real; when not, the caller builds the model normally instead."""
    modules = _attach(model, state, path, where)
    if modules is None:
        return _load_state(model, state, strict, path, where)
    return _all_real(modules)
