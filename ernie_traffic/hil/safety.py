"""Safety check of the signal states SUMO actually showed, independent of any controller's claims.

Input: SUMO's ``SaveTLSSwitchStates`` log (``<tlsState time=.. id=.. state=..>`` at every change),
the network's own phase tables (read from the ``.net.xml``) and the timing rules. Checked per
intersection:

- no conflicting greens: the links green at any moment are a subset of one green phase of the
  network's table (two links conflict when no table phase gives both green);
- minimum green: every green phase of the table, once shown, stays at least ``min_green``;
- clearance: a link that stops being green shows yellow for at least ``yellow_time`` and never
  less than ``MIN_YELLOW_S`` (3 s), and no link conflicting with it turns green until
  ``red_clearance`` after its yellow ended.

``timing`` is the cabinet's (the simulator's own configuration), never a bundle's: a bundle cannot
lower the bar its signals are measured against.

The last state of a log may be cut by the end of the run and is exempt from the minimum green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ernie_deploy.timing import GREEN_LINKS, MIN_YELLOW_S, TimingConfig

from ernie_traffic.envs.traffic.intersections import Intersection

_TOLERANCE_S = 1e-6


def read_signal_log(path: Path) -> dict[str, list[tuple[float, str]]]:
    """Per TLS id, the (time, state) changes in time order (repeated states merged)."""
    changes: dict[str, list[tuple[float, str]]] = {}
    for _, node in ET.iterparse(path):
        if node.tag == "tlsState":
            history = changes.setdefault(node.get("id", ""), [])
            state = node.get("state", "")
            if not history or history[-1][1] != state:
                history.append((float(node.get("time", "0")), state))
        node.clear()
    return changes


def check_signal_log(log: Path, intersections: dict[str, Intersection], timing: TimingConfig) -> list[str]:
    """Every violation found in ``log``, one line each (empty: the run was safe)."""
    violations: list[str] = []
    for tls, history in read_signal_log(log).items():
        if tls not in intersections:
            violations.append(f"{tls}: logged but not a signalised intersection of the network")
            continue
        violations += _check_intersection(tls, history, intersections[tls].green_states, timing)
    return violations


def _green_links(state: str) -> frozenset[int]:
    return frozenset(i for i, c in enumerate(state) if c in GREEN_LINKS)


def _check_intersection(
    tls: str, history: list[tuple[float, str]], table: tuple[str, ...], timing: TimingConfig
) -> list[str]:
    phase_links = [_green_links(s) for s in table]
    n_links = len(table[0])
    compatible = [
        [any(i in g and j in g for g in phase_links) for j in range(n_links)] for i in range(n_links)
    ]
    violations = []
    for (time, state), ending in zip(history, [t for t, _ in history[1:]] + [None], strict=True):
        greens = _green_links(state)
        if len(state) != n_links:
            violations.append(
                f"{tls} t={time:g}: state {state!r} has {len(state)} links, the table {n_links}"
            )
            continue
        if greens and not any(greens <= g for g in phase_links):
            violations.append(f"{tls} t={time:g}: conflicting greens {state!r} (no table phase allows them)")
        if state in table and ending is not None and ending - time < timing.min_green - _TOLERANCE_S:
            violations.append(
                f"{tls} t={time:g}: green {state!r} lasted {ending - time:g} s < {timing.min_green:g} s"
            )
    for link in range(n_links):
        violations += _check_link_clearance(tls, link, history, compatible[link], timing)
    return violations


def _check_link_clearance(
    tls: str, link: int, history: list[tuple[float, str]], compatible: list[bool], timing: TimingConfig
) -> list[str]:
    violations = []
    min_yellow = max(timing.yellow_time, MIN_YELLOW_S)
    for k in range(1, len(history)):
        before, (time, state) = history[k - 1][1], history[k]
        if before[link] not in GREEN_LINKS or state[link] in GREEN_LINKS:
            continue
        if state[link] not in "yY":
            violations.append(
                f"{tls} t={time:g}: link {link} went {before[link]!r}->{state[link]!r} without yellow"
            )
            continue
        yellow_end = next((t for t, s in history[k:] if s[link] not in "yY"), None)
        if yellow_end is None:
            continue  # the run ended during the yellow
        if yellow_end - time < min_yellow - _TOLERANCE_S:
            violations.append(
                f"{tls} t={time:g}: link {link} yellow lasted {yellow_end - time:g} s < {min_yellow:g} s"
            )
        clear_until = yellow_end + timing.red_clearance - _TOLERANCE_S
        for t, s in history[k:]:
            if t >= clear_until:
                break
            rivals = [j for j, c in enumerate(s) if c in GREEN_LINKS and not compatible[j]]
            if rivals:
                violations.append(
                    f"{tls} t={t:g}: link {rivals[0]} green {t - yellow_end:g} s after conflicting link "
                    f"{link}'s yellow ended (red clearance {timing.red_clearance:g} s)"
                )
                break
    return violations
