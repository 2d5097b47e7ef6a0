"""Errors raised by event model commands.

Every command validates its input before it changes anything, so a raised
``ModelError`` always means the event is exactly as it was before the call.
Each subclass carries a stable ``code`` that the server copies into its error
replies.
"""

from __future__ import annotations

from typing import ClassVar


class ModelError(Exception):
    """Base class of every error the event model raises on purpose."""

    code: ClassVar[str] = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Name of the offending argument, when one argument is to blame.
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(ModelError):
    """A participant, space, round or template does not exist."""

    code: ClassVar[str] = "not_found"


class Forbidden(ModelError):
    """The actor's role does not allow the action."""

    code: ClassVar[str] = "forbidden"


class Conflict(ModelError):
    """The action clashes with the current state (duplicate id, round already open, ...)."""

    code: ClassVar[str] = "conflict"


class SpaceFull(ModelError):
    """A space, a set of Q&A slots or a set of speaker seats has no room left."""

    code: ClassVar[str] = "full"


class InvalidAction(ModelError):
    """The arguments are malformed or the action makes no sense in this state."""

    code: ClassVar[str] = "invalid"
