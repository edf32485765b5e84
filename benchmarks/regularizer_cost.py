"""Cost of one optimizer step with each ERNIE regularizer mode, relative to the unregularized step.

Same network, batch and optimizer for every mode, measured side by side in one run (modes are
interleaved round by round, the median is reported; on CPU the step's thread CPU time). Peak memory of
a step: on CPU, the peak resident memory during one step above the memory resident before it (Linux
VmHWM after a reset), each mode in a fresh subprocess where tensors of 64 KiB or more are
mmap-allocated, so RSS follows the live tensors; on CUDA, the allocator's peak above the memory
allocated before the step.

    PYTHONPATH=$PWD python benchmarks/regularizer_cost.py [--batch 256] [--hidden 256] [--rounds 20]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from ernie_traffic.core import ObservationRegularizer, RegularizerConfig

GOALS = {("stackelberg", 3): 4.0, ("stackelberg-fd", 3): 3.0}


def make_step(net: nn.Module, obs, target, regularizer: ObservationRegularizer | None) -> Callable[[], None]:
    # Plain SGD keeps no state, so the first step's memory is the step's own.
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4)

    def step() -> None:
        loss = (net(obs) - target).square().mean()
        if regularizer is not None:
            loss = loss + regularizer(net, obs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def build(args: argparse.Namespace):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    net = nn.Sequential(
        nn.Linear(args.obs_dim, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.actions),
    ).to(device)
    obs = torch.randn(args.batch, args.obs_dim, device=device)
    target = torch.randn(args.batch, args.actions, device=device)
    return device, net, obs, target


def step_for(case: tuple[str, int], net: nn.Module, obs, target) -> Callable[[], None]:
    mode, k = case
    reg = None
    if mode != "unregularized":
        reg = ObservationRegularizer(RegularizerConfig(epsilon=0.05, steps=max(k, 1), mode=mode, weight=0.5))
    return make_step(net, obs, target, reg)


def peak_memory(case: tuple[str, int], args: argparse.Namespace) -> float:
    """Bytes by which one step of ``case`` raises peak memory (CPU: in a fresh process)."""
    if args.device.startswith("cuda"):
        _, net, obs, target = build(args)
        step = step_for(case, net, obs, target)
        step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    command = [sys.executable, __file__, "--measure-rss", f"{case[0]}:{case[1]}", *_shape_args(args)]
    # A fixed mmap threshold: every tensor of 64 KiB or more is mapped on allocation and unmapped on free,
    # so resident memory rises and falls with the live tensors (glibc otherwise starts reusing its heap).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return float(result.stdout.split()[-1])


def _shape_args(args: argparse.Namespace) -> list[str]:
    return [
        f"--batch={args.batch}",
        f"--obs-dim={args.obs_dim}",
        f"--hidden={args.hidden}",
        f"--actions={args.actions}",
        f"--threads={args.threads}",
    ]


def _memory_status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS: resident now; VmHWM: peak since the last reset)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure_rss(case: tuple[str, int], args: argparse.Namespace) -> None:
    _, net, obs, target = build(args)
    step = step_for(case, net, obs, target)
    step()  # lazy initialisation (gradient buffers, autograd engine) is not the step's cost
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # reset the peak-RSS high-water mark to the current RSS
    before = _memory_status("VmRSS")
    step()
    print(_memory_status("VmHWM") - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--obs-dim", type=int, default=33)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--measure-rss", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_rss:
        mode, k = args.measure_rss.split(":")
        _measure_rss((mode, int(k)), args)
        return
    device, net, obs, target = build(args)
    cases: list[tuple[str, int]] = [("unregularized", 0), ("gaussian", 0)]
    cases += [(mode, k) for mode in ("plain", "stackelberg", "stackelberg-fd") for k in (1, 3, 5)]
    steps = {case: step_for(case, net, obs, target) for case in cases}

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for step in steps.values():  # warm-up
        step()
    times: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    # On CPU (one intra-op thread) the thread's CPU time, which excludes the time other processes on a
    # shared machine hold the core; on CUDA, wall time between synchronisations.
    clock = time.perf_counter if device.type == "cuda" else time.thread_time
    for _ in range(args.rounds):
        for case, step in steps.items():
            synchronize()
            start = clock()
            step()
            synchronize()
            times[case].append(clock() - start)
    memory = {case: peak_memory(case, args) for case in cases}

    base_time = statistics.median(times[("unregularized", 0)])
    base_memory = memory[("unregularized", 0)]
    print(
        f"device={device} threads={args.threads} batch={args.batch} net={args.obs_dim}-{args.hidden}-"
        f"{args.hidden}-{args.actions} rounds={args.rounds} torch={torch.__version__}"
    )
    print(f"{'mode':<16}{'K':>3}{'ms/step':>10}{'× unreg':>9}{'× PGD-K':>9}{'peak MB':>9}{'× mem':>7}")
    for case in cases:
        mode, k = case
        median = statistics.median(times[case])
        versus_pgd = median / statistics.median(times[("plain", k)]) if k else float("nan")
        line = (
            f"{mode:<16}{k or '-':>3}{median * 1e3:>10.2f}{median / base_time:>9.2f}{versus_pgd:>9.2f}"
            f"{memory[case] / 2**20:>9.2f}{memory[case] / base_memory:>7.2f}"
        )
        goal = GOALS.get(case)
        if goal is not None:
            verdict = "meets" if median / base_time <= goal else "ABOVE"
            line += f"   goal ≤ {goal:.0f}× unreg: {verdict}"
        print(line)


if __name__ == "__main__":
    main()
