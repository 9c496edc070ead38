"""Values and arithmetic: every operation folds over all of its inputs, in edge order."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import attrs

import dagmill
from dagmill_contrib_nodes._inputs import numbers


@attrs.frozen
class ValueParams:
    value: Any = None
    """The node's output."""


@dagmill.node_type("value", params=ValueParams)
def value(params: ValueParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Output a constant."""
    return params.value


def _divide(left: Any, right: Any) -> Any:
    if right == 0:
        raise ZeroDivisionError(f"divide: division of {left!r} by zero")
    return left / right


OPERATIONS: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "add": (operator.add, "Sum of all inputs."),
    "subtract": (operator.sub, "The first input minus each of the others, in edge order."),
    "multiply": (operator.mul, "Product of all inputs."),
    "divide": (_divide, "The first input divided by each of the others, in edge order; dividing by zero fails the node."),
    "min": (min, "The smallest input."),
    "max": (max, "The largest input."),
}


def _operation(name: str, combine: Callable[[Any, Any], Any], description: str) -> dagmill.NodeType:
    def fold(params: None, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        return functools.reduce(combine, numbers(inputs, name))

    return dagmill.node_type(name, description=description)(fold)


NODE_TYPES = (value, *(_operation(name, combine, doc) for name, (combine, doc) in OPERATIONS.items()))
