"""Stopping a long command cleanly on SIGTERM or SIGINT (systemd stop, Ctrl-C, `kill`).

Inside `graceful_stop()`, the first signal only sets a flag that loops ask between units of
work (`stop()`): the mail in hand is finished and recorded, then the command ends and a later
run does the rest. A second signal stops at once (KeyboardInterrupt), for a stuck run; the
outbox still makes that safe for everything but the one mail being handed to the server.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def graceful_stop() -> Iterator[Callable[[], bool]]:
    """Yields `stop()`: True once a stop signal came. Restores the previous handlers."""
    asked: list[int] = []

    def handle(signum: int, frame) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)
        logger.warning("%s: finishing the current item, then stopping", signal.strsignal(signum))

    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield lambda: bool(asked)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
