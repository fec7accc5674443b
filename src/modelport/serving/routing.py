"""Traffic routing: a pure policy of explicit inputs (weights, a random draw)."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping

from modelport.errors import InvalidArgument


class Router:
    """Weighted choice among live variants; weight-0 variants get no traffic.

    ``choose(u)`` takes the uniform draw from the caller, so tests pass a
    seeded generator and get exact, repeatable routing.
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

    def pick(self, rng: random.Random) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return self.choose(rng.random())
