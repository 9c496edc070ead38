"""Run options from a file and the environment: CLI > ``DAGMILL_*`` > ``dagmill.toml`` / ``[tool.dagmill]`` > defaults.

Every option of ``dagmill run`` — plugins' options included — has a key
named after its flag (``--max-concurrency`` is ``max_concurrency`` in the
file, ``DAGMILL_MAX_CONCURRENCY`` in the environment).
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dagmill.errors import UsageError

_UNSET = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@attrs.frozen
class Setting:
    """The effective value of one option and where it came from."""

    name: str
    value: Any
    source: str


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest != "help" and not isinstance(action, argparse._HelpAction)
    }


def read_file(directory: Path) -> tuple[dict[str, Any], str]:
    """The settings table of ``dagmill.toml``, else ``[tool.dagmill]`` of ``pyproject.toml``, in ``directory``."""
    own = directory / "dagmill.toml"
    if own.is_file():
        return _toml(own), str(own.name)
    project = directory / "pyproject.toml"
    if project.is_file():
        table = _toml(project).get("tool", {}).get("dagmill")
        if isinstance(table, dict):
            return table, "pyproject.toml [tool.dagmill]"
    return {}, ""


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None


class Layers:
    """Puts the file and environment layers under a parser's ``run`` options.

    A defective file (bad TOML, an unknown key) is reported by :meth:`resolve`,
    so that commands that do not use the run options (``--help``,
    ``validate``, ``plugins``) still work beside it.
    """

    def __init__(self, parser: argparse.ArgumentParser, environ: Mapping[str, str], directory: Path) -> None:
        self.actions = _options(parser)
        self.defaults = {dest: action.default for dest, action in self.actions.items()}
        self.environ = environ
        self.file: dict[str, Any] = {}
        self.file_name = ""
        self.problem: UsageError | None = None
        try:
            self.file, self.file_name = read_file(directory)
            self._check_keys()
        except UsageError as exc:
            self.problem = exc
        for action in self.actions.values():
            action.default = argparse.SUPPRESS  # absent from the namespace unless given on the command line

    def _check_keys(self) -> None:
        for key in self.file:
            name = str(key).replace("-", "_")
            if name not in self.actions:
                match = difflib.get_close_matches(name, list(self.actions), n=1)
                hint = f" (did you mean {match[0]!r}?)" if match else ""
                raise UsageError(f"{self.file_name}: {key}: unknown option{hint}")

    def resolve(self, options: argparse.Namespace) -> list[Setting]:
        """Fill every option not given on the command line from env, file or default; say where each came from.

        Raises :class:`UsageError` for a defective file or value.
        """
        if self.problem is not None:
            raise self.problem
        settings = []
        file_values = {str(key).replace("-", "_"): value for key, value in self.file.items()}
        for dest, action in self.actions.items():
            value = getattr(options, dest, _UNSET)
            if value is not _UNSET:
                source = "command line"
            elif f"DAGMILL_{dest.upper()}" in self.environ:
                source = f"DAGMILL_{dest.upper()}"
                value = self._convert(action, self.environ[source], source)
            elif dest in file_values:
                source = self.file_name
                value = self._convert(action, file_values[dest], f"{self.file_name}: {dest}")
            else:
                source, value = "default", self.defaults[dest]
            setattr(options, dest, value)
            settings.append(Setting(dest, value, source))
        return settings

    @staticmethod
    def _convert(action: argparse.Action, raw: Any, place: str) -> Any:
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise UsageError(f"{place}: expected true or false, got {raw!r}")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise UsageError(f"{place}: expected a {'string' if action.type is None else 'value'}, got {raw!r}")
        value: Any = raw
        if action.type is not None:
            try:
                value = action.type(str(raw))
            except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
                raise UsageError(f"{place}: {exc}") from None
        elif not isinstance(raw, str):
            value = str(raw)
        if action.choices is not None and value not in action.choices:
            raise UsageError(f"{place}: expected one of {', '.join(map(str, action.choices))}, got {raw!r}")
        return value
