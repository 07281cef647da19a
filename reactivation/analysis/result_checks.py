"""Checks of a result file's shape: the leaf tests (:func:`number`, :func:`numbers`, :func:`json_object`,
:func:`statistics`, whose docstrings name what they accept) and :func:`entries_problem`, which the analyses'
``result_problem`` functions are built from (:mod:`reactivation.analyses`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivation.values import is_number, show


def number(v: Any) -> bool:
    """a number"""
    return is_number(v)


def numbers(v: Any) -> bool:
    """a JSON object of numbers"""
    return isinstance(v, dict) and bool(v) and all(is_number(x) for x in v.values())


def json_object(v: Any) -> bool:
    """a JSON object"""
    return isinstance(v, dict)


def statistics(v: Any) -> bool:
    """a JSON object of numbers, nulls or lists of numbers"""
    return (
        isinstance(v, dict)
        and bool(v)
        and all(x is None or is_number(x) or (isinstance(x, list) and all(map(is_number, x))) for x in v.values())
    )


def entries_problem(node: Any, allowed: list[str], where: str, leaf: Callable[[Any], bool]) -> str | None:
    """What is wrong with ``node`` as ``{entry in allowed: value passing leaf}``; ``None`` if nothing.

    Entries may be absent (a partial result); unknown entries and values failing ``leaf`` (whose docstring names
    what it accepts, for the message) may not. The analyses' ``result_problem`` functions are built from it
    (:mod:`reactivation.analyses`).
    """
    if not isinstance(node, dict) or not node:
        return f"{where or 'the file'} holds {show(node)[:40]}, not a JSON object of entries"
    prefix = f"{where}." if where else ""
    for key, value in node.items():
        if key not in allowed:
            return f"unexpected entry {prefix}{key}"
        if not leaf(value):
            return f"{prefix}{key} holds {show(value)[:40]}, not {leaf.__doc__}"
    return None
