"""Helpers for building routing plans: who is speaking, and which slot shows whom.

Pure logic with the time passed in, for the control plane: a room with more publishers
than slots shows its latest speakers (audio levels from the RFC 6464 header extension,
see ``Worker.on_audio_levels``), and a plan change should move as few slots as possible
so that viewers do not see tiles jump around.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

#: RFC 6464 levels are -dBov, 0 loudest and 127 silent; at or below this is speech.
SPEAKING_LEVEL = 50


class SpeakerTracker:
    """Remembers when each source last spoke and ranks sources by it.

    ``hold`` seconds of stickiness stop a brief cough from replacing someone who is
    still talking: a shown source is only displaced by one that spoke more recently,
    and only once it has itself been quiet for ``hold`` seconds.
    """

    def __init__(self, hold: float = 2.0, speaking_level: int = SPEAKING_LEVEL) -> None:
        self.hold = hold
        self.speaking_level = speaking_level
        self.last_spoke: dict[str, float] = {}

    def update(self, levels: Mapping[str, int], now: float) -> None:
        """Feed levels as reported by ``Worker.on_audio_levels``."""
        for source_id, level in levels.items():
            if level <= self.speaking_level:
                self.last_spoke[source_id] = now

    def forget(self, source_id: str) -> None:
        self.last_spoke.pop(source_id, None)

    def select(
        self,
        candidates: Sequence[str],
        count: int,
        now: float,
        shown: Iterable[str] = (),
    ) -> list[str]:
        """Up to ``count`` of ``candidates``, latest speakers first. Sources in ``shown``
        that spoke within ``hold`` seconds keep their place; never-heard candidates
        fill the rest in the order given."""
        if count <= 0:
            return []
        order = {c: i for i, c in enumerate(candidates)}
        shown_set = {s for s in shown if s in order}
        never = float("-inf")

        def key(source_id: str) -> tuple[bool, float, int]:
            spoke = self.last_spoke.get(source_id, never)
            held = source_id in shown_set and now - spoke <= self.hold
            return (not held, -spoke, order[source_id])

        return sorted(candidates, key=key)[:count]


def assign_slots(
    slots: Sequence[str],
    current: Mapping[str, str | None],
    wanted: Sequence[str],
) -> dict[str, str | None]:
    """A plan putting every source of ``wanted`` (at most ``len(slots)``) into a slot,
    leaving a source in the slot it already has, and emptying the slots left over.

    ``current`` is the slot -> source mapping now in force (``Worker.routing``); the
    result can be passed to ``Worker.set_routing`` as is.
    """
    wanted = list(dict.fromkeys(wanted))[: len(slots)]
    wanted_set = set(wanted)
    plan: dict[str, str | None] = {}
    placed: set[str] = set()
    for slot in slots:
        source = current.get(slot)
        if source is not None and source in wanted_set and source not in placed:
            plan[slot] = source
            placed.add(source)
    newcomers = iter([s for s in wanted if s not in placed])
    for slot in slots:
        if slot not in plan:
            plan[slot] = next(newcomers, None)
    return plan
