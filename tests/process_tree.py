"""The live processes below a process, read from /proc (tests of commands that end their workers)."""

from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Live (not zombie) processes below ``pid``, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:  # it ended while we looked
            continue
        if int(parent) == pid and state != "Z":
            children.append(int(stat.parent.name))
    return children + [grandchild for child in children for grandchild in descendants(child)]


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
