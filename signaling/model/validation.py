"""Argument checks shared by the model's dataclasses and commands.

Each check raises :class:`InvalidAction` naming the argument, so a caller can point the user at
the field that was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .errors import InvalidAction

MAX_ID_CHARS = 128
MAX_NAME_CHARS = 64
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_TEXT_CHARS = 2000
MAX_INTERESTS = 20
MAX_INTEREST_CHARS = 64


def check_id(value: Any, field: str) -> str:
    """An identifier: a non-empty string without whitespace or control characters."""
    if not isinstance(value, str) or not value:
        raise InvalidAction(f"{field} must be a non-empty string", field=field)
    if len(value) > MAX_ID_CHARS:
        raise InvalidAction(f"{field} is longer than {MAX_ID_CHARS} characters", field=field)
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidAction(
            f"{field} must not contain whitespace or control characters", field=field
        )
    return value


def check_text(value: Any, field: str, max_chars: int, *, allow_empty: bool = False) -> str:
    """Human text, stripped of surrounding whitespace and limited in length."""
    if not isinstance(value, str):
        raise InvalidAction(f"{field} must be a string", field=field)
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidAction(f"{field} must not be empty", field=field)
    if len(text) > max_chars:
        raise InvalidAction(f"{field} is longer than {max_chars} characters", field=field)
    return text


def check_time(value: Any, field: str = "now") -> float:
    """A point in time or a duration: a finite real number (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAction(f"{field} must be a number", field=field)
    if not math.isfinite(value):
        raise InvalidAction(f"{field} must be finite", field=field)
    return float(value)


def check_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    """An integer within ``minimum..maximum`` inclusive (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAction(f"{field} must be an integer", field=field)
    if not minimum <= value <= maximum:
        raise InvalidAction(f"{field} must be between {minimum} and {maximum}", field=field)
    return value


def check_choice(value: Any, field: str, choices: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise InvalidAction(f"{field} must be one of {', '.join(options)}", field=field)
    return value


def check_interests(value: Any, field: str = "interests") -> list[str]:
    """A short list of short topic labels, duplicates dropped, order kept."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidAction(f"{field} must be a list of strings", field=field)
    items: list[str] = []
    for item in value:
        label = check_text(item, field, MAX_INTEREST_CHARS)
        if label not in items:
            items.append(label)
    if len(items) > MAX_INTERESTS:
        raise InvalidAction(f"{field} holds more than {MAX_INTERESTS} entries", field=field)
    return items
