"""Participant tokens: JWT HS256 with the participant id, display name and role."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from signaling.model import Role

ROLES: tuple[Role, ...] = ("attendee", "speaker", "moderator", "host")


class TokenError(Exception):
    """A token that is malformed, badly signed, expired or carries an unknown role."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for."""

    participant_id: str
    name: str
    role: Role


def new_participant_id(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def issue_token(
    secret: str,
    participant_id: str,
    name: str,
    role: Role,
    *,
    ttl_s: float,
    now: float | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": participant_id,
        "name": name,
        "role": role,
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, *, now: float | None = None) -> Identity:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "name", "role", "exp"], "verify_iat": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("the token has expired; register again") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token is not valid: {exc}") from exc
    if now is not None and claims["exp"] <= now:
        raise TokenError("the token has expired; register again")
    role, sub, name = claims.get("role"), claims.get("sub"), claims.get("name")
    if role not in ROLES or not isinstance(sub, str) or not isinstance(name, str):
        raise TokenError("the token carries an unknown role or malformed claims")
    return Identity(participant_id=sub, name=name, role=role)
