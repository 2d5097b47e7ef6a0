"""Who should see whom: the event model turned into routing plans for the SFU.

Pure functions, no I/O. The control plane decides; the SFU executes ``{slot: source}``.

- On a stage everyone sees the speakers on their seats and the occupants of the Q&A slots,
  and nobody else: an attendee's camera reaches the audience only while promoted.
- In a booth or a breakout room everyone sees everyone else. When a room has more
  publishers than a participant has slots, the most recent speakers (by audio level) win.
- The lobby shows nobody.

Slots are assigned stably: a publisher who stays visible keeps their slot, so a change in
who is shown re-points only the slots that must change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sfu.selection import assign_slots
from signaling.model import Event

ShownAs = Literal["speaker", "qa", "member"]


@dataclass(frozen=True, slots=True)
class Visible:
    """A participant whose media a viewer should receive, and why."""

    participant_id: str
    shown_as: ShownAs


def visible_to(
    event: Event, viewer_id: str, last_spoke: Mapping[str, float] | None = None
) -> list[Visible]:
    """Everyone ``viewer_id`` should see and hear, most important first."""
    viewer = event.participants.get(viewer_id)
    if viewer is None:
        return []
    space = event.spaces[viewer.space_id]
    if space.kind == "stage":
        slots = event.slots[space.id]
        shown = [Visible(pid, "speaker") for pid in slots.speakers]
        shown += [Visible(pid, "qa") for pid in slots.occupants if pid is not None]
        return [v for v in shown if v.participant_id != viewer_id]
    if space.kind in ("booth", "breakout"):
        others = [pid for pid in event.member_ids(space.id) if pid != viewer_id]
        if last_spoke:
            # Most recent speakers first; the sort is stable, so arrival order breaks ties.
            others.sort(key=lambda pid: -last_spoke.get(pid, float("-inf")))
        return [Visible(pid, "member") for pid in others]
    return []


@dataclass(frozen=True, slots=True)
class Plan:
    """A viewer's slots: which participant each slot shows (None: empty)."""

    video: dict[str, str | None]
    audio: dict[str, str | None]
    shown_as: dict[str, ShownAs]


def plan_for(
    event: Event,
    viewer_id: str,
    *,
    video_slots: Sequence[str],
    audio_slots: Sequence[str],
    publishing_video: Mapping[str, str],
    publishing_audio: Mapping[str, str],
    current_video: Mapping[str, str | None],
    current_audio: Mapping[str, str | None],
    last_spoke: Mapping[str, float] | None = None,
) -> Plan:
    """The viewer's slots, by participant id, given who publishes what.

    ``publishing_video``/``publishing_audio`` map participant ids to their source ids; only
    those participants can fill a slot. ``current_*`` map slot ids to participant ids.
    """
    visible = visible_to(event, viewer_id, last_spoke)
    # Slots are filled stably: whoever stays visible keeps their slot.
    video = assign_slots(
        video_slots,
        current_video,
        [v.participant_id for v in visible if v.participant_id in publishing_video],
    )
    audio = assign_slots(
        audio_slots,
        current_audio,
        [v.participant_id for v in visible if v.participant_id in publishing_audio],
    )
    return Plan(video=video, audio=audio, shown_as={v.participant_id: v.shown_as for v in visible})
