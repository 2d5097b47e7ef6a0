"""Server settings: defaults, overridden by ``PODIUM_*`` environment variables and CLI flags."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class RateLimit:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float


@dataclass(slots=True)
class Config:
    """Every setting of a Podium server, with the environment variable that overrides it."""

    host: str = "127.0.0.1"  # PODIUM_HOST
    port: int = 8080  # PODIUM_PORT
    # HS256 secret for participant tokens. When empty, it is read from ``secret_file`` and
    # generated there on first run, so ``podium token`` and ``podium serve`` agree.
    secret: str = ""  # PODIUM_SECRET
    secret_file: str = ".podium/secret"  # PODIUM_SECRET_FILE
    token_ttl_s: float = 12 * 3600  # PODIUM_TOKEN_TTL_S
    redis_url: str = ""  # PODIUM_REDIS_URL (empty: in-memory store, one process)
    demo: bool = True  # PODIUM_DEMO: load the demo event at start-up
    # Origins allowed to open the websocket besides the server's own (comma separated).
    allowed_origins: tuple[str, ...] = ()  # PODIUM_ALLOWED_ORIGINS
    # Spaces with more members than this get counts instead of member lists.
    member_list_limit: int = 60  # PODIUM_MEMBER_LIST_LIMIT
    # How often coalesced membership, queue and count updates are flushed to clients.
    flush_interval_s: float = 0.1  # PODIUM_FLUSH_INTERVAL_S
    counts_interval_s: float = 1.0  # PODIUM_COUNTS_INTERVAL_S
    # How often round deadlines are checked.
    tick_interval_s: float = 0.5  # PODIUM_TICK_INTERVAL_S
    # A participant who drops keeps their place (space, raised hand, slot) this long.
    reconnect_grace_s: float = 30.0  # PODIUM_RECONNECT_GRACE_S
    hello_timeout_s: float = 10.0  # PODIUM_HELLO_TIMEOUT_S
    chat_history: int = 200  # PODIUM_CHAT_HISTORY
    chat_rate: RateLimit = field(default_factory=lambda: RateLimit(5.0, 10.0))
    action_rate: RateLimit = field(default_factory=lambda: RateLimit(20.0, 40.0))
    register_rate: RateLimit = field(default_factory=lambda: RateLimit(50.0, 200.0))
    # Outgoing messages queued for one slow client before it is disconnected.
    send_queue_limit: int = 2000  # PODIUM_SEND_QUEUE_LIMIT
    static_dir: str = ""  # PODIUM_STATIC_DIR (default: the web/ folder of the checkout)
    # Media: the SFU runs unless disabled.
    media: bool = True  # PODIUM_MEDIA
    # Media worker processes on this machine: -1 one per core, 0 one inside the server
    # process (tests, the smallest setup).
    media_workers: int = -1  # PODIUM_MEDIA_WORKERS
    # Media workers on other machines (``podium sfu --connect``) register at this
    # "HOST:PORT" with this token; empty: none.
    media_listen: str = ""  # PODIUM_MEDIA_LISTEN
    media_token: str = ""  # PODIUM_MEDIA_TOKEN
    # A certificate and key (PEM files) make that channel TLS; workers connect with
    # ``podium sfu --tls-ca CERT`` (or --tls for a certificate the system trusts).
    media_tls_cert: str = ""  # PODIUM_MEDIA_TLS_CERT
    media_tls_key: str = ""  # PODIUM_MEDIA_TLS_KEY
    # The address this machine's workers open pipes on, reachable by the other workers
    # (127.0.0.1 when every worker runs here).
    media_pipe_host: str = "127.0.0.1"  # PODIUM_MEDIA_PIPE_HOST
    # Host addresses ICE announces for media (comma separated). Empty: the machine's own
    # non-loopback addresses; tests and single-machine demos use 127.0.0.1.
    media_addresses: tuple[str, ...] = ()  # PODIUM_MEDIA_ADDRESSES
    # Receive slots negotiated once per participant: the largest layout a space offers.
    video_slots: int = 9  # PODIUM_VIDEO_SLOTS
    audio_slots: int = 9  # PODIUM_AUDIO_SLOTS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Build a config from defaults, then ``PODIUM_*`` variables, then ``overrides``."""
        env = dict(os.environ) if env is None else env
        config = cls()
        for f in fields(cls):
            raw = env.get(f"PODIUM_{f.name.upper()}")
            if raw is None or isinstance(getattr(config, f.name), RateLimit):
                continue
            setattr(config, f.name, _parse(raw, getattr(config, f.name), f.name))
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        return config

    def resolve_secret(self) -> str:
        """The token secret: configured, or kept in ``secret_file`` (created on first use)."""
        if self.secret:
            return self.secret
        path = Path(self.secret_file)
        if path.exists():
            text = path.read_text().strip()
            if text:
                self.secret = text
                return text
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_urlsafe(48)
        # Create with owner-only permissions before writing the secret into it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        self.secret = text
        return text


def _parse(raw: str, current: Any, name: str) -> Any:
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(current, str):
        return raw
    raise ValueError(f"setting {name} cannot be read from the environment")
