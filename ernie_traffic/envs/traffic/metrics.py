"""Episode traffic metrics from SUMO's own tripinfo output.

SUMO runs with ``--tripinfo-output.write-unfinished`` and ``--tripinfo-output.write-undeparted``,
so when the simulation closes every loaded vehicle has a record: arrived, still driving
(``arrival="-1"``, duration and timeLoss up to the end) or never inserted (``depart="-1"``).
Means over *departed* vehicles are exactly SUMO's ``--statistic-output`` vehicleTripStatistics.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

METRIC_NAMES = (
    "mean_travel_time",
    "mean_delay",
    "mean_waiting_time",
    "mean_depart_delay",
    "throughput",
    "unfinished",
    "not_inserted",
    "mean_queue",
)


def tripinfo_metrics(tripinfo_file: Path) -> dict[str, float]:
    """Metrics of one finished episode (``mean_queue`` is added by the environment).

    mean_travel_time / mean_delay / mean_waiting_time: mean tripinfo ``duration`` / ``timeLoss`` /
    ``waitingTime`` over vehicles that entered the network (still-driving ones counted up to the
    end); mean_depart_delay: mean ``departDelay`` over all loaded vehicles (not-inserted ones
    waited that long without entering); throughput: arrived vehicles; unfinished: loaded but not
    arrived (still driving or never inserted); not_inserted: never inserted.
    """
    durations, delays, waits, depart_delays = [], [], [], []
    arrived = not_inserted = 0
    for _, node in ET.iterparse(tripinfo_file):
        if node.tag != "tripinfo":
            continue
        depart_delays.append(float(node.get("departDelay", "0")))
        if node.get("depart") == "-1":
            not_inserted += 1
        else:
            durations.append(float(node.get("duration", "0")))
            delays.append(float(node.get("timeLoss", "0")))
            waits.append(float(node.get("waitingTime", "0")))
            arrived += float(node.get("arrival", "-1")) >= 0
        node.clear()
    loaded = len(depart_delays)
    return {
        "mean_travel_time": _mean(durations),
        "mean_delay": _mean(delays),
        "mean_waiting_time": _mean(waits),
        "mean_depart_delay": _mean(depart_delays),
        "throughput": float(arrived),
        "unfinished": float(loaded - arrived),
        "not_inserted": float(not_inserted),
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
