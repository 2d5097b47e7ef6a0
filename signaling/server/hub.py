"""The hub: connected sessions, the state they share, and the updates they receive.

Every change to the event goes through :meth:`Hub.apply`, which updates the store atomically
and turns the model's change records into messages. Updates that touch many people
(membership, counts, hand queues, slots) are coalesced and flushed on a short timer, so a
1,400-person stage does not receive one message per arrival; each message is encoded once and
the same text is queued for every recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from signaling import protocol as p
from signaling.auth import Identity
from signaling.clock import Clock
from signaling.config import Config
from signaling.media import MediaPlane
from signaling.model import (
    BroadcastSent,
    Change,
    Event,
    HandQueueChanged,
    Moved,
    MuteRequested,
    ParticipantRemoved,
    ParticipantUpdated,
    RoundChanged,
    RoundClosed,
    RoundOpened,
    SlotsChanged,
    SpaceAdded,
    SpaceRemoved,
)
from signaling.protocol import CLOSE_REMOVED, CLOSE_REPLACED
from signaling.server import views
from signaling.server.session import Session
from signaling.store import EventStore, Update

log = logging.getLogger(__name__)

EVENT_CHANNEL = "event"
# Moves the participant did not ask for themselves; their client is told who moved them.
_OWN_MOVES = frozenset({"join", "leave", "added"})


class Hub:
    """Owns the sessions of this process and keeps their clients up to date."""

    def __init__(self, config: Config, store: EventStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.event: Event | None = None
        self.sessions: dict[str, Session] = {}
        # Connected participants per space, kept in step with the model's moves.
        self._by_space: defaultdict[str, set[str]] = defaultdict(set)
        # Local mirror of the recent chat per channel (the store keeps the shared copy).
        self._chat: dict[str, deque[p.ChatInfo]] = {}
        self._chat_ids = itertools.count(1)
        # Coalesced updates, flushed by :meth:`flush`.
        self._joined: defaultdict[str, dict[str, None]] = defaultdict(dict)
        self._left: defaultdict[str, dict[str, None]] = defaultdict(dict)
        self._dirty_queues: set[str] = set()
        self._dirty_slots: set[str] = set()
        self._dirty_round = False
        self._counts_dirty = False
        self._last_counts = 0.0
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.removed: set[str] = set()
        self._stopping = False
        self.media: MediaPlane | None = None
        if config.media:
            self.media = MediaPlane(config, lambda: self.event, self.send_to)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, event: Event) -> None:
        await self.store.create(event)
        self.event = await self.store.get()
        for channel in [EVENT_CHANNEL, *self.event.spaces]:
            history = await self.store.chat_history(channel, self.config.chat_history)
            if history:
                self._chat[channel] = deque(
                    (msgspec.convert(m, p.ChatInfo) for m in history),
                    maxlen=self.config.chat_history,
                )
        if self.media is not None:
            await self.media.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.config.flush_interval_s, self._flush_tick)),
            loop.create_task(self._every(self.config.tick_interval_s, self.tick)),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        sessions = list(self.sessions.values())
        for session in sessions:
            session.close(1001, "server shutting down")
        for session in sessions:
            await session.stop()
        self.sessions.clear()
        if self.media is not None:
            await self.media.stop()

    async def _every(self, interval: float, action: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("periodic %s failed", getattr(action, "__name__", action))

    def _flush_tick(self) -> None:
        self.flush()

    # ------------------------------------------------------------------ state changes

    async def apply(self, mutate: Callable[[Event], list[Change]]) -> Update:
        """Apply a model command atomically and tell everyone concerned."""
        update = await self.store.update(mutate)
        self.event = update.event
        if update.changes:
            self.publish(update.changes)
        return update

    async def tick(self) -> None:
        """Close rounds whose deadline has passed."""
        event = self.event
        if event is None:
            return
        round_ = event.current_round()
        now = self.clock.now()
        if round_ is not None and round_.deadline <= now:
            await self.apply(lambda e: e.tick(now))

    def publish(self, changes: Iterable[Change]) -> None:
        """Turn change records into messages: some at once, most coalesced."""
        event = self._require_event()
        snapshots: dict[str, Moved | None] = {}
        for change in changes:
            if isinstance(change, Moved):
                self._track_move(change.pid, change.from_space, change.to_space)
                if change.pid in self.sessions and change.reason != "added":
                    # On arrival, attach() sends the welcome and then the first snapshot.
                    told = change.reason not in _OWN_MOVES
                    snapshots[change.pid] = change if told else snapshots.get(change.pid)
            elif isinstance(change, ParticipantRemoved):
                self._track_move(change.pid, change.space_id, None)
                if self.media is not None:
                    self._spawn(self.media.close(change.pid))
            elif isinstance(change, HandQueueChanged):
                self._dirty_queues.add(change.stage_id)
            elif isinstance(change, SlotsChanged):
                self._dirty_slots.add(change.stage_id)
            elif isinstance(change, SpaceAdded):
                space = event.spaces.get(change.space_id)
                if space is not None:
                    self.send_all(p.SpaceAdded(space=views.space_info(event, space)))
            elif isinstance(change, SpaceRemoved):
                self.send_all(p.SpaceRemoved(space_id=change.space_id))
                self._joined.pop(change.space_id, None)
                self._left.pop(change.space_id, None)
            elif isinstance(change, RoundOpened | RoundChanged):
                self._dirty_round = True
            elif isinstance(change, RoundClosed):
                self._dirty_round = False
                self.send_all(p.RoundClosed(round_id=change.round_id))
            elif isinstance(change, BroadcastSent):
                self._send_broadcast(event, change)
            elif isinstance(change, ParticipantUpdated):
                self._send_participant_update(event, change.pid)
            elif isinstance(change, MuteRequested):
                actor = event.participants.get(change.actor_id or "")
                self.send_to(
                    change.pid,
                    p.MuteRequested(kind=change.media_kind, by=actor.name if actor else None),
                )
        if self.media is not None:
            self.media.on_changes(changes)
        for pid, move in snapshots.items():
            if move is not None:
                mover = event.participants.get(move.by or "")
                self.send_to(pid, p.Moved(space_id=move.to_space, by=mover.name if mover else None))
            self.send_snapshot(pid)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _track_move(self, pid: str, from_space: str | None, to_space: str | None) -> None:
        self._counts_dirty = True
        connected = pid in self.sessions
        if from_space is not None:
            self._by_space[from_space].discard(pid)
            _toggle(self._joined[from_space], self._left[from_space], pid)
        if to_space is not None:
            if connected:
                self._by_space[to_space].add(pid)
            _toggle(self._left[to_space], self._joined[to_space], pid)

    def _send_participant_update(self, event: Event, pid: str) -> None:
        """Tell those who can see ``pid`` (their room, or a stage's audience while they are on
        a seat or slot) and the staff."""
        participant = event.participants.get(pid)
        if participant is None:
            return
        space = event.spaces[participant.space_id]
        recipients = set(self._staff_ids(event))
        listed = space.kind != "stage" and event.count(space.id) <= self.config.member_list_limit
        if listed or (space.is_stage and event.slots[space.id].holds(pid)):
            recipients |= self._by_space.get(space.id, set())
        recipients.add(pid)
        self.send_many(
            recipients, p.ParticipantUpdated(participant=views.participant_info(participant))
        )

    def _send_broadcast(self, event: Event, change: BroadcastSent) -> None:
        round_ = event.rounds.get(change.round_id)
        if round_ is None:
            return
        sender = event.participants.get(change.sender_id or "")
        message = p.BroadcastPosted(
            round_id=round_.id,
            text=change.text,
            sender_name=sender.name if sender else "Moderators",
            sent_at=self.clock.now(),
        )
        recipients = set(self._staff_ids(event))
        for room_id in round_.room_ids:
            recipients |= self._by_space.get(room_id, set())
        self.send_many(recipients, message)
        self._dirty_round = True

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Send the coalesced updates gathered since the last flush."""
        event = self.event
        if event is None:
            return
        now = self.clock.now()
        limit = self.config.member_list_limit
        for space_id in list(self._joined.keys() | self._left.keys()):
            joined = self._joined.pop(space_id, {})
            left = self._left.pop(space_id, {})
            space = event.spaces.get(space_id)
            if space is None or not (joined or left):
                continue
            count = event.count(space_id)
            if space.kind == "stage" or count > limit:
                # Large spaces get counts only, through the periodic `counts` message.
                continue
            people = event.participants
            delta = p.SpaceDelta(
                space_id=space_id,
                member_count=count,
                joined=[
                    views.participant_info(people[pid])
                    for pid in joined
                    if pid in people and people[pid].space_id == space_id
                ],
                left=list(left),
            )
            # Members who arrived during this window already hold a snapshot with some of
            # these changes; applying a delta twice is harmless (joins and leaves are sets).
            self.send_many(self._by_space.get(space_id, set()), delta)
        for stage_id in self._pop(self._dirty_queues):
            if stage_id in event.hand_queues:
                self._flush_queue(event, stage_id)
        for stage_id in self._pop(self._dirty_slots):
            if stage_id in event.slots:
                message = p.SlotsUpdate(**_fields(views.slots_info(event, stage_id)))
                recipients = self._by_space.get(stage_id, set()) | set(self._staff_ids(event))
                self.send_many(recipients, message)
        if self._dirty_round:
            self._dirty_round = False
            round_ = event.current_round()
            if round_ is not None:
                self.send_all(p.RoundUpdate(round=views.round_info(event, round_, now)))
        # Throttled by the monotonic clock: the event clock may be a test's fake one.
        mono = time.monotonic()
        if self._counts_dirty and mono - self._last_counts >= self.config.counts_interval_s:
            self._counts_dirty = False
            self._last_counts = mono
            self.send_all(p.Counts(counts=event.counts()))

    @staticmethod
    def _pop(items: set[str]) -> list[str]:
        popped = list(items)
        items.clear()
        return popped

    def _flush_queue(self, event: Event, stage_id: str) -> None:
        queue = event.hand_queues[stage_id]
        length = len(queue)
        positions = queue.positions()
        staff = set(self._staff_ids(event))
        if staff:
            entries = views.hand_entries(event, stage_id)
            for pid in staff:
                self.send_to(
                    pid,
                    p.HandQueueUpdate(
                        stage_id=stage_id,
                        length=length,
                        position=positions.get(pid),
                        entries=entries,
                    ),
                )
        for pid, position in positions.items():
            if pid not in staff:
                self.send_to(
                    pid, p.HandQueueUpdate(stage_id=stage_id, length=length, position=position)
                )
        others = self._by_space.get(stage_id, set()) - staff - positions.keys()
        self.send_many(others, p.HandQueueUpdate(stage_id=stage_id, length=length))

    def _staff_ids(self, event: Event) -> list[str]:
        return [
            pid
            for pid, session in self.sessions.items()
            if session.identity.role in ("moderator", "host")
        ]

    # ------------------------------------------------------------------ sending

    def send_to(self, pid: str, message: msgspec.Struct) -> None:
        session = self.sessions.get(pid)
        if session is not None:
            session.send(p.encode_text(message))

    def send_many(self, pids: Iterable[str], message: msgspec.Struct) -> None:
        text: str | None = None
        sessions = self.sessions
        for pid in pids:
            session = sessions.get(pid)
            if session is not None:
                if text is None:
                    text = p.encode_text(message)
                session.send(text)

    def send_all(self, message: msgspec.Struct) -> None:
        self.send_many(list(self.sessions), message)

    def send_snapshot(self, pid: str) -> None:
        event = self._require_event()
        session = self.sessions.get(pid)
        participant = event.participants.get(pid)
        if session is None or participant is None:
            return
        chat = list(self._chat.get(participant.space_id, ()))
        if not session.sent_event_chat:
            # The event-wide chat history goes out once per connection, not on every move.
            session.sent_event_chat = True
            chat = sorted([*chat, *self._chat.get(EVENT_CHANNEL, ())], key=lambda c: c.sent_at)
        session.send(
            p.encode_text(
                views.snapshot(
                    event,
                    participant,
                    chat,
                    now=self.clock.now(),
                    member_list_limit=self.config.member_list_limit,
                )
            )
        )

    # ------------------------------------------------------------------ chat

    async def post_chat(self, sender: Identity, text: str, scope: p.ChatScope) -> p.ChatInfo:
        event = self._require_event()
        participant = event.participants.get(sender.participant_id)
        if participant is None:
            raise LookupError("the sender is not in the event")
        space_id = participant.space_id if scope == "space" else None
        message = p.ChatInfo(
            id=f"c{next(self._chat_ids)}",
            scope=scope,
            space_id=space_id,
            sender_id=participant.id,
            sender_name=participant.name,
            text=text,
            sent_at=self.clock.now(),
        )
        channel = space_id or EVENT_CHANNEL
        history = self._chat.get(channel)
        if history is None:
            history = self._chat[channel] = deque(maxlen=self.config.chat_history)
        history.append(message)
        recipients: Iterable[str] = (
            self._by_space.get(space_id, set()) if space_id is not None else list(self.sessions)
        )
        self.send_many(recipients, p.ChatPosted(message=message))
        await self.store.append_chat(
            channel, msgspec.to_builtins(message), keep=self.config.chat_history
        )
        return message

    # ------------------------------------------------------------------ sessions

    async def attach(self, session: Session, interests: list[str]) -> None:
        """Register a freshly authenticated session and send it the welcome and snapshot."""
        identity = session.identity
        pid = identity.participant_id
        previous = self.sessions.get(pid)
        if previous is not None:
            previous.close(CLOSE_REPLACED, "signed in from another tab or device")
        handle = self._expiry.pop(pid, None)
        if handle is not None:
            handle.cancel()
        self.sessions[pid] = session
        event = self._require_event()
        now = self.clock.now()
        if pid not in event.participants:
            await self.apply(
                lambda e: e.add_participant(
                    pid, identity.name, identity.role, now, interests=interests
                )
            )
        else:
            self._by_space[event.participants[pid].space_id].add(pid)
        event = self._require_event()
        session.send(
            p.encode_text(
                p.Welcome(
                    protocol=p.PROTOCOL_VERSION,
                    participant=views.participant_info(event.participants[pid]),
                    event=views.event_info(event),
                    server_time=now,
                )
            )
        )
        self.send_snapshot(pid)
        round_ = event.current_round()
        if round_ is not None:
            session.send(p.encode_text(p.RoundUpdate(round=views.round_info(event, round_, now))))
        queue_stage = event.stage_of(pid)
        if queue_stage is not None and event.hand_position(pid) is not None:
            self._dirty_queues.add(queue_stage)
        if identity.role in ("moderator", "host"):
            # The console needs every stage's queue and slots, wherever the moderator is.
            for stage_id in event.stage_ids():
                session.send(
                    p.encode_text(
                        p.HandQueueUpdate(
                            stage_id=stage_id,
                            length=len(event.hand_queues[stage_id]),
                            position=event.hand_position(pid),
                            entries=views.hand_entries(event, stage_id),
                        )
                    )
                )
                session.send(
                    p.encode_text(p.SlotsUpdate(**_fields(views.slots_info(event, stage_id))))
                )

    def detach(self, session: Session) -> None:
        """A socket closed. The participant keeps their place for the reconnect grace time."""
        pid = session.participant_id
        if self.sessions.get(pid) is not session:
            return  # replaced by a newer connection, which keeps the place
        del self.sessions[pid]
        event = self.event
        if event is not None and pid in event.participants:
            self._by_space[event.participants[pid].space_id].discard(pid)
        if pid in self.removed or self._stopping:
            return
        loop = asyncio.get_running_loop()
        self._expiry[pid] = loop.call_later(
            self.config.reconnect_grace_s, lambda: loop.create_task(self._expire(pid))
        )

    async def _expire(self, pid: str) -> None:
        self._expiry.pop(pid, None)
        if pid in self.sessions:
            return
        event = self._require_event()
        if pid in event.participants:
            now = self.clock.now()
            await self.apply(lambda e: e.remove_participant(pid, now))

    async def remove(self, pid: str, reason: str | None) -> None:
        """Remove a participant from the event; their token no longer gets them in."""
        self.removed.add(pid)
        profile = await self.store.get_profile(pid) or {}
        await self.store.put_profile(pid, {**profile, "removed": True})
        if self.media is not None:
            await self.media.close(pid)  # their media stops before anything else happens
        session = self.sessions.get(pid)
        if session is not None:
            session.send(p.encode_text(p.Removed(reason=reason)))
            session.close(CLOSE_REMOVED, "removed by a moderator")
        handle = self._expiry.pop(pid, None)
        if handle is not None:
            handle.cancel()
        event = self._require_event()
        if pid in event.participants:
            now = self.clock.now()
            await self.apply(lambda e: e.remove_participant(pid, now))

    def _require_event(self) -> Event:
        if self.event is None:
            raise RuntimeError("the hub has not been started")
        return self.event


def _fields(struct: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


def _toggle(undo: dict[str, None], record: dict[str, None], pid: str) -> None:
    """Record ``pid`` in ``record`` unless it cancels a pending opposite entry in ``undo``."""
    if pid in undo:
        del undo[pid]
    else:
        record[pid] = None
