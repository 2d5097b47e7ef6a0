"""The control plane's side of the media plane: negotiation, and routing plans for the SFU.

One SFU endpoint per participant, negotiated once. Whenever the event changes (a move, a
promotion, a round) or a source appears, the plans of the viewers concerned are recomputed
(:mod:`signaling.routing`) and only the slots that change are re-pointed; the viewer's
client is told who is in which slot with ``media_slots``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from sfu import SfuError, SourceInfo, Worker, WorkerConfig
from signaling import protocol as p
from signaling.config import Config
from signaling.model import (
    Change,
    Event,
    Moved,
    ParticipantRemoved,
    SlotsChanged,
)
from signaling.routing import Plan, plan_for

log = logging.getLogger(__name__)

# RFC 6464 levels are -dBov: 0 is the loudest, 127 silence. Speech sits well below 70.
SPEAKING_LEVEL = 70

Send = Callable[[str, msgspec.Struct], None]


class MediaError(Exception):
    """A media request that cannot be served; ``code`` is a protocol error code."""

    def __init__(self, code: p.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: p.ErrorCode = code
        self.message = message


@dataclass(slots=True)
class _Viewer:
    """A participant's endpoint as the control plane tracks it."""

    video_slots: list[str]
    audio_slots: list[str]
    mids: dict[str, str | None]
    video: dict[str, str | None] = field(default_factory=dict)  # slot -> participant
    audio: dict[str, str | None] = field(default_factory=dict)
    sent: p.MediaSlots | None = None


class MediaPlane:
    """Drives an SFU worker from the event model."""

    def __init__(self, config: Config, get_event: Callable[[], Event | None], send: Send):
        self.config = config
        self._get_event = get_event
        self._send = send
        self.worker = Worker(
            WorkerConfig(host_addresses=config.media_addresses or None),
            on_connected=self._on_connected,
            on_source_added=self._on_source_added,
            on_source_removed=self._on_source_removed,
            on_audio_levels=self._on_audio_levels,
            on_failed=self._on_failed,
        )
        self._viewers: dict[str, _Viewer] = {}
        self._video: dict[str, str] = {}  # participant -> video source id
        self._audio: dict[str, str] = {}  # participant -> audio source id
        self._last_spoke: dict[str, float] = {}

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.close()
        self._viewers.clear()

    # ------------------------------------------------------------------ negotiation

    async def open(self, pid: str, publish_sdp: str | None) -> tuple[str | None, str]:
        """Create (or replace) ``pid``'s endpoint; returns (publish answer, subscribe offer).

        Call :meth:`refresh` for ``pid`` once the client has been sent the offer.
        """
        event = self._get_event()
        if event is None or pid not in event.participants:
            raise MediaError("not_found", "join the event before starting media")
        if publish_sdp is not None and not _has_media(publish_sdp):
            raise MediaError("invalid", "the SDP offer carries no audio or video m-line")
        if pid in self._viewers:
            await self.close(pid)
        try:
            offer = await self.worker.create_endpoint(
                pid,
                publish_sdp,
                video_slots=self.config.video_slots,
                audio_slots=self.config.audio_slots,
            )
        except SfuError as exc:
            raise MediaError("conflict", str(exc)) from exc
        except Exception as exc:
            # aiortc raises a variety of errors for SDP it cannot use; none is the server's.
            log.info("media offer of %s refused: %r", pid, exc)
            raise MediaError("invalid", f"the SDP offer was refused: {exc}") from exc
        viewer = _Viewer(
            video_slots=[s.slot_id for s in offer.slots if s.kind == "video"],
            audio_slots=[s.slot_id for s in offer.slots if s.kind == "audio"],
            mids={s.slot_id: s.mid for s in offer.slots},
        )
        self._viewers[pid] = viewer
        assert offer.subscribe_offer_sdp is not None
        return offer.publish_answer_sdp, offer.subscribe_offer_sdp

    async def add_publisher(self, pid: str, publish_sdp: str) -> str:
        """Give a viewer's endpoint a publish connection; returns the answer SDP."""
        if pid not in self._viewers:
            raise MediaError("conflict", "start media with media_subscribe first")
        if not _has_media(publish_sdp):
            raise MediaError("invalid", "the SDP offer carries no audio or video m-line")
        try:
            offer = await self.worker.add_publisher(pid, publish_sdp)
        except SfuError as exc:
            raise MediaError("conflict", str(exc)) from exc
        except Exception as exc:
            log.info("media offer of %s refused: %r", pid, exc)
            raise MediaError("invalid", f"the SDP offer was refused: {exc}") from exc
        assert offer.publish_answer_sdp is not None
        return offer.publish_answer_sdp

    async def answer(self, pid: str, sdp: str) -> None:
        if pid not in self._viewers:
            raise MediaError("conflict", "there is no media offer to answer; send media_offer")
        try:
            await self.worker.set_subscribe_answer(pid, sdp)
        except SfuError as exc:
            raise MediaError("conflict", str(exc)) from exc
        except Exception as exc:
            log.info("media answer of %s refused: %r", pid, exc)
            raise MediaError("invalid", f"the SDP answer was refused: {exc}") from exc

    async def close(self, pid: str) -> None:
        """Stop ``pid``'s media at once and close their connections. Idempotent."""
        self._viewers.pop(pid, None)
        had_media = pid in self._video or pid in self._audio
        await self.worker.close_endpoint(pid)
        self._video.pop(pid, None)
        self._audio.pop(pid, None)
        self._last_spoke.pop(pid, None)
        if had_media:
            self._refresh_watchers_of(pid)

    # ------------------------------------------------------------------ plans

    def on_changes(self, changes: Iterable[Change]) -> None:
        """Recompute the plans of everyone a model change concerns."""
        event = self._get_event()
        if event is None or not self._viewers:
            return
        spaces: set[str] = set()
        for change in changes:
            if isinstance(change, Moved):
                if change.from_space is not None:
                    spaces.add(change.from_space)
                spaces.add(change.to_space)
            elif isinstance(change, SlotsChanged):
                spaces.add(change.stage_id)
            elif isinstance(change, ParticipantRemoved):
                spaces.add(change.space_id)
        if spaces:
            self.refresh(
                pid
                for pid in self._viewers
                if pid in event.participants and event.participants[pid].space_id in spaces
            )

    def refresh(self, pids: Iterable[str], *, force: bool = False) -> None:
        """Recompute and apply the plans of ``pids``; tell each client what changed."""
        event = self._get_event()
        if event is None:
            return
        for pid in list(pids):
            viewer = self._viewers.get(pid)
            if viewer is None or pid not in event.participants:
                continue
            plan = plan_for(
                event,
                pid,
                video_slots=viewer.video_slots,
                audio_slots=viewer.audio_slots,
                publishing_video=self._video,
                publishing_audio=self._audio,
                current_video=viewer.video,
                current_audio=viewer.audio,
                last_spoke=self._last_spoke,
            )
            routing: dict[str, str | None] = {}
            for slot_id, who in plan.video.items():
                if force or viewer.video.get(slot_id) != who:
                    routing[slot_id] = self._video.get(who) if who else None
            for slot_id, who in plan.audio.items():
                if force or viewer.audio.get(slot_id) != who:
                    routing[slot_id] = self._audio.get(who) if who else None
            if routing:
                try:
                    self.worker.set_routing(pid, routing)
                except SfuError:
                    log.exception("routing plan for %s refused", pid)
                    continue
            viewer.video, viewer.audio = plan.video, plan.audio
            message = p.MediaSlots(
                slots=[
                    p.MediaSlotInfo(
                        slot_id=slot_id,
                        kind=kind,
                        mid=viewer.mids.get(slot_id),
                        participant_id=who,
                        name=event.participants[who].name if who else None,
                        role=plan.shown_as.get(who) if who else None,
                    )
                    for kind, assigned in _by_kind(plan)
                    for slot_id, who in assigned.items()
                ]
            )
            if force or message != viewer.sent:
                viewer.sent = message
                self._send(pid, message)

    def _refresh_watchers_of(self, pid: str) -> None:
        event = self._get_event()
        if event is None:
            return
        participant = event.participants.get(pid)
        if participant is None:
            # Gone from the event: anyone whose plan still names them needs a new one.
            stale = [
                viewer_id
                for viewer_id, v in self._viewers.items()
                if pid in v.video.values() or pid in v.audio.values()
            ]
            self.refresh(stale)
            return
        space_id = participant.space_id
        self.refresh(
            viewer_id
            for viewer_id in self._viewers
            if viewer_id in event.participants
            and event.participants[viewer_id].space_id == space_id
        )

    def slots_of(self, pid: str) -> p.MediaSlots | None:
        viewer = self._viewers.get(pid)
        return viewer.sent if viewer else None

    # ------------------------------------------------------------------ SFU events

    def _on_connected(self, pid: str, role: str) -> None:
        self._send(pid, p.MediaState(connection=_direction(role), state="connected"))

    def _on_failed(self, pid: str, reason: str) -> None:
        role = "publish" if reason.startswith("publish") else "subscribe"
        self._send(pid, p.MediaState(connection=_direction(role), state="failed", reason=reason))

    def _on_source_added(self, source: SourceInfo) -> None:
        table = self._video if source.kind == "video" else self._audio
        if source.endpoint_id not in table:
            table[source.endpoint_id] = source.source_id
            self._refresh_watchers_of(source.endpoint_id)

    def _on_source_removed(self, source: SourceInfo) -> None:
        table = self._video if source.kind == "video" else self._audio
        if table.get(source.endpoint_id) == source.source_id:
            del table[source.endpoint_id]

    def _on_audio_levels(self, levels: dict[str, int]) -> None:
        event = self._get_event()
        if event is None:
            return
        now = time.monotonic()
        by_source = {sid: pid for pid, sid in self._audio.items()}
        crowded: set[str] = set()
        for source_id, level in levels.items():
            pid = by_source.get(source_id)
            if pid is None or level > SPEAKING_LEVEL:
                continue
            self._last_spoke[pid] = now
            participant = event.participants.get(pid)
            if participant is None:
                continue
            space = event.spaces[participant.space_id]
            if space.kind in ("booth", "breakout") and (
                event.count(space.id) - 1 > self.config.video_slots
            ):
                crowded.add(space.id)
        if crowded:
            self.refresh(
                viewer_id
                for viewer_id in self._viewers
                if viewer_id in event.participants
                and event.participants[viewer_id].space_id in crowded
            )


def _has_media(sdp: str) -> bool:
    return any(
        line.startswith(("m=audio", "m=video")) for line in sdp.replace("\r", "").split("\n")
    )


def _by_kind(plan: Plan) -> tuple[tuple[p.MediaKind, dict[str, str | None]], ...]:
    return (("video", plan.video), ("audio", plan.audio))


def _direction(role: str) -> p.MediaDirection:
    return "publish" if role == "publish" else "subscribe"
