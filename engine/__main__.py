"""``python -m dagmill``: the same as the ``dagmill`` command."""

from dagmill.cli import entry_point

entry_point()
