"""The ``conference`` scenario (placeholder while it is built)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loadtest.media import ClipSettings


@dataclass(frozen=True, slots=True)
class ConferenceOptions:
    participants: int = 1400
    media_bots: int = 4
    chat_messages: int = 500
    booth_visits: int = 300
    promotions: int = 6
    rooms: int = 40
    round_seconds: float = 20.0
    seconds: float = 60.0
    ramp_rate: float = 100.0
    secret_file: Path | None = None
    clip: ClipSettings = field(default_factory=ClipSettings)


class ConferenceScenario:
    name = "conference"

    def __init__(self, options: ConferenceOptions) -> None:
        raise ValueError("conference: not built yet")
