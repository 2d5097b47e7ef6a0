"""Podium's media plane: a selective forwarding unit on aiortc.

Forwards raw RTP through re-pointable slots; never decodes or encodes media, and never
renegotiates a participant's connection when the routing plan changes. See
:class:`~sfu.worker.Worker` for the API the control plane calls.
"""

from .adapter import AdapterError
from .selection import SpeakerTracker, assign_slots
from .worker import (
    EndpointOffer,
    RoutingError,
    SdpError,
    SfuError,
    SlotInfo,
    SourceInfo,
    UnknownEndpoint,
    Worker,
    WorkerConfig,
    install_uvloop,
)

__all__ = [
    "AdapterError",
    "EndpointOffer",
    "RoutingError",
    "SdpError",
    "SfuError",
    "SlotInfo",
    "SourceInfo",
    "SpeakerTracker",
    "UnknownEndpoint",
    "Worker",
    "WorkerConfig",
    "assign_slots",
    "install_uvloop",
]
