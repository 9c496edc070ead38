"""acme-nodes: a complete dagmill node-type plugin, installed by entry point."""

import attrs

import dagmill


@attrs.frozen
class WordsParams:
    minimum: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    """Count only words at least this long."""


@dagmill.node_type("acme.words", params=WordsParams)
def words(params: WordsParams, inputs: list, ctx: dagmill.NodeContext) -> int:
    """Count the words of every input text that are at least params.minimum long."""
    return sum(len(word) >= params.minimum for text in inputs for word in str(text).split())


@dagmill.hookimpl
def dagmill_node_types() -> list[dagmill.NodeType]:
    return [words]
