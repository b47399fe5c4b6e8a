"""Evaluate the CRDs' CEL rules (``x-kubernetes-validations``) offline, as the apiserver would.

cel-python implements standard CEL; the Kubernetes CEL environment adds extension libraries (strings, lists) and
reads ``duration()`` with Go's grammar. The shims below cover the Kubernetes functions our rules use (and the common
neighbours), so ``roomsync validate`` agrees with ``kubectl apply``. Unknown functions surface as evaluation errors,
which the tests catch for every rule shipped in ``crds/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from roomsync.config.durations import parse_go_duration


class CelError(Exception):
    """A rule that does not compile or cannot be evaluated on the given value."""


def _s(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _lower_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _s(s)))


def _upper_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _s(s)))


def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> celtypes.StringType:
    return celtypes.StringType(_s(s).replace(_s(old), _s(new), int(n)))


def _trim(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_s(s).strip())


def _split(s: Any, sep: Any, n: Any = -1) -> celtypes.ListType:
    n = int(n)
    if n == 0:
        return celtypes.ListType([])
    parts = _s(s).split(_s(sep), n - 1 if n > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(s: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _s(s)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise IndexError(f"substring({start}, {end}) out of range for a string of length {len(text)}")
    return celtypes.StringType(text[int(start) : stop])


def _char_at(s: Any, i: Any) -> celtypes.StringType:
    text = _s(s)
    if not 0 <= int(i) <= len(text):
        raise IndexError(f"charAt({i}) out of range")
    return celtypes.StringType(text[int(i) : int(i) + 1])


def _index_of(x: Any, y: Any, start: Any = 0) -> celtypes.IntType:
    if isinstance(x, str):
        return celtypes.IntType(_s(x).find(_s(y), int(start)))
    items = list(x)
    return celtypes.IntType(items.index(y) if y in items else -1)


def _last_index_of(x: Any, y: Any) -> celtypes.IntType:
    if isinstance(x, str):
        return celtypes.IntType(_s(x).rfind(_s(y)))
    items = list(x)
    return celtypes.IntType(len(items) - 1 - items[::-1].index(y) if y in items else -1)


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_s(sep).join(_s(i) for i in items))


def _is_sorted(items: Any) -> celtypes.BoolType:
    seq = list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(seq)))


def _duration(value: Any) -> celtypes.DurationType | CELEvalError:
    """``duration(string)`` with Go's grammar (no ``d`` unit), like Kubernetes CEL."""
    if isinstance(value, celtypes.DurationType):
        return value
    try:
        delta = parse_go_duration(_s(value))
    except ValueError as exc:
        return CELEvalError(str(exc))
    return celtypes.DurationType(seconds=int(delta.total_seconds()), nanos=delta.microseconds * 1000)


KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "replace": _replace,
    "trim": _trim,
    "split": _split,
    "substring": _substring,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "join": _join,
    "isSorted": _is_sorted,
    "duration": _duration,
}

_ENV = celpy.Environment()


@lru_cache(maxsize=256)
def _program(rule: str) -> celpy.Runner:
    try:
        ast = _ENV.compile(rule)
    except CELParseError as exc:
        raise CelError(f"rule does not parse: {exc}") from exc
    return _ENV.program(ast, functions=KUBERNETES_FUNCTIONS)


def check_rule(rule: str) -> None:
    """Raise :class:`CelError` when ``rule`` does not parse."""
    _program(rule)


def evaluate(rule: str, self_value: Any) -> bool:
    """Evaluate ``rule`` with ``self`` bound to ``self_value`` (plain JSON data); raise CelError on errors."""
    program = _program(rule)
    try:
        result = program.evaluate({"self": json_to_cel(self_value)})
    except CELEvalError as exc:
        raise CelError(_short(exc)) from exc
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise CelError(str(exc)) from exc
    if isinstance(result, CELEvalError):
        raise CelError(_short(result))
    if not isinstance(result, celtypes.BoolType):
        raise CelError(f"rule did not evaluate to a bool but to {type(result).__name__}")
    return bool(result)


def _short(error: CELEvalError) -> str:
    """cel-python's messages embed the whole activation; keep the first line a person can read."""
    args = error.args
    text = str(args[0]) if args else str(error)
    return text.split(" (in activation")[0][:300]
