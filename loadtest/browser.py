"""What the web client does on the wire, so bots can do the same.

A load test whose bots are kinder to the server than browsers proves nothing. These are the
web client's habits (``web/js/connection.js``, ``web/js/media.js``, ``web/app.js``) that cost
the server something; ``tests/unit/test_loadtest_browser.py`` reads the client's sources and
fails when they drift apart, so a change to the client is a change here too.

- Keepalive: every ``KEEPALIVE_EVERY_S`` the page sends ``ping`` unless one is unanswered
  (any message from the server answers it); a ping unanswered for ``PONG_WAIT_S`` drops the
  connection, as a close would.
- Reconnect: after a close the page did not ask for, it waits ``RETRY_DELAYS_S[attempt]``
  (the last one repeats) times a random factor in ``RETRY_JITTER`` and sends ``hello`` again
  with the same token. A welcome resets the attempts. Closes that say "replaced",
  "unauthorized" or "removed" end the session instead.
- Media: at the first welcome the page starts the camera and microphone and offers the
  publish connection with both (then the server offers the subscribe connection). After a
  reconnect it negotiates both connections again only when one of them failed or closed.
  A media connection that fails while the websocket stays up stays failed.
"""

from __future__ import annotations

import random

from signaling import protocol as p

RETRY_DELAYS_S = (0.3, 1.0, 2.0, 4.0, 8.0, 15.0)
RETRY_JITTER = (0.8, 1.2)
KEEPALIVE_EVERY_S = 10.0
PONG_WAIT_S = 15.0
HELLO_WAIT_S = 10.0
ICE_GATHER_TIMEOUT_S = 3.0
# Close codes after which the page gives up rather than reconnects.
FINAL_CLOSE_CODES = frozenset({p.CLOSE_REPLACED, p.CLOSE_UNAUTHORIZED, p.CLOSE_REMOVED})


def retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before reconnect attempt ``attempt`` (0 for the first), jittered as the page
    does."""
    base = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
    low, high = RETRY_JITTER
    return base * (low + (rng or random).random() * (high - low))
