"""User functions for the ``python`` node tests (importable as ``contrib_helpers``)."""

from __future__ import annotations

import trio


def scale(*values: float, factor: float = 1) -> list[float]:
    return [v * factor for v in values]


async def shout(text: str, suffix: str = "!") -> str:
    await trio.sleep(0)
    return text.upper() + suffix


def explode() -> None:
    raise ValueError("user code failed")
