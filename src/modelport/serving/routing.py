"""Traffic routing: a pure policy of explicit inputs (weights, a random draw)."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Mapping

from modelport.errors import InvalidArgument


def unit_draw(salt: str, unit: str) -> float:
    """A unit id's fixed point in [0, 1): the first 8 bytes of SHA-256(salt NUL unit), big-endian, over 2^64.

    The same on every worker, server and restart (unlike ``hash()``, which
    Python salts per process) and easy to reproduce elsewhere; a different
    salt places units independently.
    """
    digest = hashlib.sha256(f"{salt}\0{unit}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 18446744073709551616.0  # 2**64


class Router:
    """Weighted choice among live variants; weight-0 variants get no traffic.

    ``choose(u)`` takes the uniform draw from the caller, so tests pass a
    seeded generator and get exact, repeatable routing; sticky assignment
    passes :func:`unit_draw` instead of a random draw, so a unit lands where
    its fixed point falls on the cumulative weights (changing the weights
    moves only the units whose point crosses a boundary).
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.names = [n for n, w in weights.items() if w > 0]
        if not self.names:
            raise InvalidArgument("no live variant takes traffic")
        total = float(sum(weights[n] for n in self.names))
        self.shares = {n: weights[n] / total for n in self.names}
        self._cumulative = list(itertools.accumulate(weights[n] / total for n in self.names))

    def choose(self, u: float) -> str:
        """The variant for a uniform draw ``u`` in [0, 1)."""
        i = bisect.bisect_right(self._cumulative, u)
        return self.names[min(i, len(self.names) - 1)]

    def for_unit(self, salt: str, unit: str) -> str:
        """The variant of a unit id (sticky): the same for the same salt, unit and weights."""
        if len(self.names) == 1:
            return self.names[0]
        return self.choose(unit_draw(salt, unit))

    def pick(self, rng: random.Random) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return self.choose(rng.random())
