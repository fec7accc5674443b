"""Ids made on the hot path: request ids, capture event ids."""

from __future__ import annotations

import itertools
import os
import uuid


class RequestIds:
    """UUID-shaped request ids: a random prefix per process and a counter (a uuid4 per request costs ~2 µs)."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._count = itertools.count()

    def next(self) -> str:
        if self._pid != os.getpid():  # a forked worker must not repeat its parent's ids
            self._pid = os.getpid()
            self._prefix = str(uuid.uuid4())[:24]
            self._count = itertools.count()
        return self._prefix + format(next(self._count), "012x")
