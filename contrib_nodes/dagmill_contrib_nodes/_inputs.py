"""Helpers shared by the node types: inputs as a sequence, one input, numbers."""

from __future__ import annotations

from numbers import Number
from typing import Any


def listed(inputs: Any) -> list[Any]:
    """The inputs in edge order, whether they came as a list or by port."""
    return list(inputs.values()) if isinstance(inputs, dict) else list(inputs)


def single(inputs: Any, what: str) -> Any:
    """The one input of a node that takes exactly one."""
    if type(inputs) is list and len(inputs) == 1:
        return inputs[0]
    items = listed(inputs)
    if len(items) != 1:
        raise ValueError(f"{what} takes exactly one input, got {len(items)}")
    return items[0]


def numbers(inputs: Any, what: str) -> list[Any]:
    """The inputs, each checked to be a number (not a bool)."""
    items = inputs if type(inputs) is list else listed(inputs)
    if not items:
        raise ValueError(f"{what} needs at least one input")
    for position, item in enumerate(items, 1):
        if isinstance(item, bool) or not isinstance(item, Number):
            raise TypeError(f"{what}: input {position} is {item!r}, not a number")
    return items
