"""Checking a composed config against the signatures of the classes and functions its `_target_`s name.

Every node with a `_target_` becomes a call; this module refuses, before anything is built, a key the
call does not take (a typo such as `+model.hiden=3`) and a value whose type its annotation excludes
(`trainer.max_epochs=abc`, `optimizer.lr=fast`), naming the key path and what is allowed. Ranges are
the business of the classes that own the values: their constructors raise ValueError naming the key.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import os
import types
import typing
from pathlib import PurePath
from typing import Any

from hydra.utils import get_object

from serlab.errors import UserError


class ConfigError(UserError, ValueError):
    """A config key whose value the code cannot take, with the key path and what is allowed."""


def check_targets(node: Any, key: str = "") -> None:
    """Walk a resolved config (plain dicts and lists) and check every `_target_` node in it."""
    if isinstance(node, dict):
        if "_target_" in node:
            check_call(node, key)
        for name, value in node.items():
            check_targets(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_targets(value, f"{key}[{i}]")


def check_call(node: dict[str, Any], key: str) -> None:
    """Refuse keys the target does not take and values its annotations exclude."""
    where = key or "config"
    try:
        target = get_object(node["_target_"])
    except Exception as err:  # Hydra raises plain Exceptions for unknown modules and names
        raise ConfigError(f"{where}._target_: cannot import {node['_target_']!r} ({err})") from err
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # builtins without a readable signature are left to the call itself
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints = _hints(target, params)
    for name, value in node.items():
        if name.startswith("_") and name.endswith("_"):
            continue  # Hydra's own keys: _target_, _partial_, _recursive_, _convert_, _args_
        if name not in named:
            if open_ended:
                continue
            options = ", ".join(named)
            raise ConfigError(f"{where}.{name}: {node['_target_']} takes no option {name!r}; its options: {options}")
        if name in hints and not fits(value, hints[name]):
            raise ConfigError(f"{where}.{name}={value!r}: {node['_target_']} expects {describe(hints[name])}")


def _hints(target: Any, params: typing.Mapping[str, inspect.Parameter]) -> dict[str, Any]:
    """Parameter annotations as types; those that cannot be evaluated are left out (not checked)."""
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function)
    except Exception:  # annotations naming what only type checkers import; fall back to evaluated ones
        evaluated = {n: p.annotation for n, p in params.items() if not isinstance(p.annotation, str)}
        return {n: hint for n, hint in evaluated.items() if hint is not inspect.Parameter.empty}


def fits(value: Any, hint: Any) -> bool:
    """Whether a config value (or a nested `_target_` node, built first) can be passed where `hint` is declared."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if hint is None or hint is type(None):
        return value is None
    if isinstance(value, dict) and "_target_" in value:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    cls = origin or hint
    # a Protocol class marks itself in its own namespace; classes implementing one do not
    if not isinstance(cls, type) or vars(cls).get("_is_protocol", False):
        return True  # callables, protocols and the like: left to the call
    if issubclass(cls, enum.Enum):
        return any(value in (m.value, m.name) for m in cls)
    if issubclass(cls, (PurePath, os.PathLike)):
        return isinstance(value, str)
    if issubclass(cls, collections.abc.Mapping):
        return isinstance(value, dict)
    if issubclass(cls, collections.abc.Iterable) and not issubclass(cls, (str, bytes)):
        item = args[0] if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis) else Any
        return isinstance(value, (list, tuple)) and all(fits(v, item) for v in value)
    return isinstance(value, cls)


def describe(hint: Any) -> str:
    """A readable name for an annotation, e.g. `int or None`, `one of ['gru', 'lstm']`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(arg) for arg in args))
    if origin is typing.Literal:
        return f"one of {list(args)}"
    if hint is None or hint is type(None):
        return "None"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"one of {[m.value for m in hint]}"
    named = hint if isinstance(hint, type) else origin  # Sequence[int] is named after Sequence
    return named.__name__ if isinstance(named, type) else str(hint).replace("typing.", "")
