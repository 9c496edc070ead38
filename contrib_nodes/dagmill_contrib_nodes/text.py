"""Text: constants, joining, case, and ``string.Template`` substitution (no code is ever evaluated)."""

from __future__ import annotations

import string
from typing import Any

import attrs

import dagmill
from dagmill_contrib_nodes._inputs import listed, single


@attrs.frozen
class TextParams:
    text: str
    """The node's output."""


@attrs.frozen
class ConcatParams:
    separator: str = ""
    """Put between the inputs."""


@attrs.frozen
class CaseParams:
    text: str | None = None
    """The text to convert; without it, the node's one input."""


def _valid_template(instance: Any, attribute: Any, value: str) -> None:
    if not string.Template(value).is_valid():
        raise ValueError(f"'{attribute.name}' must be a valid $-template (use $$ for a literal $): {value!r}")


@attrs.frozen
class TemplateParams:
    template: str = attrs.field(validator=_valid_template)
    """``$name`` or ``${name}`` placeholders: input ports by name (``$in0``, ``$in1``, ... for unnamed inputs), then run variables."""
    pieces: tuple[tuple[str, str | None], ...] = attrs.field(init=False, repr=False, eq=False)
    names: frozenset[str] = attrs.field(init=False, repr=False, eq=False)

    @pieces.default
    def _compile(self) -> tuple[tuple[str, str | None], ...]:
        """The template as (literal text, placeholder or None) pairs, parsed once with string.Template's own pattern."""
        pieces: list[tuple[str, str | None]] = []
        position = 0
        for match in string.Template.pattern.finditer(self.template):
            literal = self.template[position : match.start()]
            if match["escaped"] is not None:
                pieces.append((literal + "$", None))
            else:
                pieces.append((literal, match["named"] or match["braced"]))
            position = match.end()
        pieces.append((self.template[position:], None))
        return tuple(pieces)

    @names.default
    def _names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.pieces if name is not None)


@dagmill.node_type("text", params=TextParams)
def text(params: TextParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Output a constant string."""
    return params.text


@dagmill.node_type("concat", params=ConcatParams)
def concat(params: ConcatParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Join all inputs as text, in edge order."""
    return params.separator.join(map(str, listed(inputs)))


def _subject(params: CaseParams, inputs: Any, what: str) -> str:
    subject = params.text if params.text is not None else single(inputs, what)
    if not isinstance(subject, str):
        raise TypeError(f"{what}: expected text, got {subject!r}")
    return subject


@dagmill.node_type("upper", params=CaseParams)
def upper(params: CaseParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Upper-case the text (params.text, or the one input)."""
    return _subject(params, inputs, "upper").upper()


@dagmill.node_type("lower", params=CaseParams)
def lower(params: CaseParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Lower-case the text (params.text, or the one input)."""
    return _subject(params, inputs, "lower").lower()


@dagmill.node_type("template", params=TemplateParams)
def template(params: TemplateParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Substitute inputs and run variables into a $-template."""
    named = inputs if isinstance(inputs, dict) else {f"in{k}": item for k, item in enumerate(inputs)}
    values = named if params.names <= named.keys() else {**ctx.variables.snapshot(), **named}
    try:
        return "".join(literal if name is None else literal + str(values[name]) for literal, name in params.pieces)
    except KeyError as exc:
        raise KeyError(f"template: no input or variable named {exc.args[0]!r}") from None


NODE_TYPES = (text, concat, upper, lower, template)
