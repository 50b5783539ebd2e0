"""The project's one exception hierarchy; the CLI turns each into one line and exit 2."""

from __future__ import annotations

__all__ = [
    "BadExchangeFile",
    "BadInput",
    "BadScenario",
    "LockTimeout",
    "NoFreeSlot",
    "SimError",
]


class SimError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_status = 2


class BadInput(SimError):
    """A user-supplied value (path, option, command line) is not what was expected."""


class BadScenario(BadInput):
    """A scenario file is missing, malformed or fails validation."""


class BadExchangeFile(BadInput):
    """An exchange file failed validation before any mapped byte was touched."""


class NoFreeSlot(SimError):
    """Every account slot of an exchange file is taken."""


class LockTimeout(SimError):
    """A lock wait passed its bound: the holder is stuck (for example SIGSTOPped)."""

    exit_status = 3
