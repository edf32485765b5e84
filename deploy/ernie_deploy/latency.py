"""Per-decision latency statistics of the controller runtime."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyStats:
    """The last ``window`` decision latencies (seconds) and their median / p99 / max.

    >>> stats = LatencyStats()
    >>> for seconds in (0.001, 0.002, 0.003):
    ...     stats.record(seconds)
    >>> round(stats.summary()["median_ms"], 3)
    2.0
    """

    def __init__(self, window: int = 100_000) -> None:
        self.samples: deque[float] = deque(maxlen=window)

    def record(self, seconds: float) -> None:
        self.samples.append(seconds)

    def summary(self) -> dict[str, float]:
        """Milliseconds: ``median_ms``, ``p99_ms``, ``max_ms``; plus ``decisions`` counted."""
        if not self.samples:
            return {"decisions": 0, "median_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
        ms = np.asarray(self.samples) * 1e3
        return {
            "decisions": len(ms),
            "median_ms": float(np.median(ms)),
            "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()),
        }
