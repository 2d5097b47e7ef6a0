"""How many cores a run's bots and server need, estimated before it starts.

With ``--spawn`` the server and the bots share this machine's cores. A size that needs more
than the machine has ends in a load generator (or a server) out of CPU, and a run that cannot
hold tells nothing about the server: say so before the run rather than after.

The costs are CPU seconds per second (cores), measured on a 2-core x86_64 machine with
``python -m loadtest stage --publishers 2 --audience 40 --seconds 20 --spawn``: 42 bots
publishing the default clip (about 150 packets/s each, camera and microphone) used 66 % of a
core receiving 164 streams, and the server 53 % forwarding 16,400 packets/s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Bots: one publishing participant (replayed camera and microphone, both connections), one
# received stream (counted in the socket callback), one websocket client (pings, chat).
BOT_PUBLISHER_CORES = 0.012
BOT_STREAM_CORES = 0.001
BOT_CLIENT_CORES = 0.0005
# Server: per forwarded packet, per packet received from a publisher, per websocket client.
SERVER_FORWARD_CORES_PER_PPS = 25e-6
SERVER_INGRESS_CORES_PER_PPS = 10e-6
SERVER_CLIENT_CORES = 0.0003
PUBLISHER_PPS = 150.0  # camera and microphone of the default clip
STREAM_PPS = 100.0  # one received stream, audio and video averaged
# Cores a run may plan to use before it is too big for the machine: the rest is headroom
# for bursts (joins, a round opening) and for the machine's own work.
USABLE_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Demand:
    """What a scenario asks of bots and server at its busiest."""

    publishers: int = 0  # participants sending camera and microphone
    streams: int = 0  # streams received over all bots (one viewer, one publisher, one kind)
    clients: int = 0  # websocket clients, with or without media

    @property
    def bot_cores(self) -> float:
        return (
            self.publishers * BOT_PUBLISHER_CORES
            + self.streams * BOT_STREAM_CORES
            + self.clients * BOT_CLIENT_CORES
        )

    @property
    def server_cores(self) -> float:
        return (
            self.streams * STREAM_PPS * SERVER_FORWARD_CORES_PER_PPS
            + self.publishers * PUBLISHER_PPS * SERVER_INGRESS_CORES_PER_PPS
            + self.clients * SERVER_CLIENT_CORES
        )


def shared_machine_warning(demand: Demand, cores: int | None = None) -> str | None:
    """A warning when bots and server together need more of this machine than it has."""
    cores = cores or os.cpu_count() or 1
    need = demand.bot_cores + demand.server_cores
    if need <= USABLE_SHARE * cores:
        return None
    return (
        f"this size needs about {demand.bot_cores:.1f} cores of bots and "
        f"{demand.server_cores:.1f} of server ({demand.publishers:,} publishing, "
        f"{demand.streams:,} streams received, {demand.clients:,} clients), and --spawn puts "
        f"both on this machine's {cores} cores: expect the run to fail for want of CPU; run "
        "the bots on other machines (agents) against a server of its own, or a smaller size"
    )
