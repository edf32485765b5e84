"""Decision steps per second on RESCO grid4x4 (16 intersections, 5 s decisions, 1 simulated hour):
our TrafficSignalEnv vs sumo-rl's own SumoEnvironment vs bare libsumo stepping, in one run.

    PYTHONPATH=$PWD:$PWD/deploy /tmp/venv/bin/python benchmarks/env_throughput.py --repeats 3

Contenders (each runs full episodes, repeated, interleaved; the least process CPU time counts, as
the machine is shared and wall time measures the neighbours too):
- ``ours``: TrafficSignalEnv with random green-phase requests (timer, detectors, observations,
  queue reward, tripinfo metrics).
- ``ours-fixed``: TrafficSignalEnv with control="fixed_time" (SUMO runs the network's program, the
  env still reads detectors and builds observations/rewards): the same traffic as ``bare``, so the
  ratio to ``bare`` is the environment's own overhead.
- ``sumo-rl``: sumo_rl.SumoEnvironment on libsumo (LIBSUMO_AS_TRACI), random actions, same
  decision interval, yellow and min/max green, reward "queue"; its pettingzoo ≥ 1.25 import of
  ``agent_selector`` is patched here only.
- ``bare``: libsumo.simulationStep(t + 5) 720 times, nothing read, the network's own program.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "deploy")]

import sumo  # noqa: E402

os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)  # sumo-rl refuses to import without it
os.environ["LIBSUMO_AS_TRACI"] = "quiet"  # sumo-rl on libsumo, as fast as it goes

import pettingzoo.utils  # noqa: E402
import traci  # noqa: E402, F401

# libsumo only after traci: imported first it would leave sumo-rl's traci without start().
libsumo = importlib.import_module("libsumo")

from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv  # noqa: E402
from ernie_traffic.scenarios import resolve_scenario  # noqa: E402

NETWORK = "grid4x4"
DECISION_INTERVAL = 5
EPISODE_SECONDS = 3600
STEPS = EPISODE_SECONDS // DECISION_INTERVAL


def run_ours(seed: int, control: str = "agents", record: list | None = None) -> int:
    """One episode of random green-phase requests; ``record`` collects every signal state set."""
    env = TrafficSignalEnv(
        TrafficEnvConfig(
            network=NETWORK,
            episode_seconds=EPISODE_SECONDS,
            decision_interval=DECISION_INTERVAL,
            control=control,
            red_clearance=0,  # sumo-rl's timing: 3 s yellow, no red clearance
            detector_length=None,  # sumo-rl reads whole lanes
        )
    )
    rng = np.random.default_rng(seed)
    sizes = {a: env.action_space(a).n for a in env.possible_agents}
    set_state = libsumo.trafficlight.setRedYellowGreenState
    if record is not None:
        libsumo.trafficlight.setRedYellowGreenState = lambda tls, state: (
            record.append((libsumo.simulation.getTime(), tls, state)),
            set_state(tls, state),
        )
    env.reset(seed=seed)
    steps = 0
    while env.agents:
        env.step({a: int(rng.integers(sizes[a])) for a in env.agents})
        steps += 1
    env.episode_metrics()
    env.close()
    libsumo.trafficlight.setRedYellowGreenState = set_state
    return steps


def run_sumo_rl(seed: int) -> int:
    if not hasattr(pettingzoo.utils, "agent_selector"):  # renamed AgentSelector in pettingzoo 1.25
        pettingzoo.utils.agent_selector = pettingzoo.utils.AgentSelector
    from sumo_rl import SumoEnvironment

    scenario = resolve_scenario(NETWORK)
    env = SumoEnvironment(
        net_file=str(scenario.net_file),
        route_file=",".join(map(str, scenario.route_files)),
        num_seconds=EPISODE_SECONDS,
        delta_time=DECISION_INTERVAL,
        yellow_time=3,
        min_green=5,
        max_green=60,
        reward_fn="queue",
        sumo_seed=seed,
        sumo_warnings=False,
    )
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    steps, done = 0, False
    while not done:
        _, _, dones, _ = env.step({a: int(rng.integers(env.action_spaces(a).n)) for a in env.ts_ids})
        done = dones["__all__"]
        steps += 1
    env.close()
    return steps


def start_bare(seed: int) -> None:
    scenario = resolve_scenario(NETWORK)
    routes = ",".join(map(str, scenario.route_files))
    binary = str(Path(sumo.SUMO_HOME) / "bin" / "sumo")
    libsumo.start([binary, "-n", str(scenario.net_file), "-r", routes, "--seed", str(seed), "--no-step-log"])


def run_bare(seed: int) -> int:
    """libsumo.simulationStep every decision interval under the network's own program."""
    start_bare(seed)
    t = 0.0
    for _ in range(STEPS):
        t += DECISION_INTERVAL
        libsumo.simulationStep(t)
    libsumo.close()
    return STEPS


def run_bare_replay(seed: int, events: list[tuple[float, str, str]]) -> int:
    """The signal states ``ours`` set, replayed at the same times with nothing else: the same traffic
    as ``ours`` at the least cost libsumo allows."""
    start_bare(seed)
    now = 0.0
    for time_s, tls, state in events:
        if time_s > now:
            libsumo.simulationStep(time_s)
            now = time_s
        libsumo.trafficlight.setRedYellowGreenState(tls, state)
    libsumo.simulationStep(float(EPISODE_SECONDS))
    libsumo.close()
    return STEPS


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="episodes per contender (median counts)")
    args = parser.parse_args()
    events: dict[int, list[tuple[float, str, str]]] = {}
    contenders = {
        "ours": lambda seed: run_ours(seed, record=events.setdefault(seed, [])),
        "bare-replay": lambda seed: run_bare_replay(seed, events[seed]),
        "sumo-rl": run_sumo_rl,
        "ours-fixed": lambda seed: run_ours(seed, control="fixed_time"),
        "bare": run_bare,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, run in contenders.items():
            start = time.process_time()
            run(repeat)
            times[name].append(time.process_time() - start)
    rate = {name: STEPS / min(t) for name, t in times.items()}
    print(f"{NETWORK}: {STEPS} decisions of {DECISION_INTERVAL} s/episode, best of {args.repeats} episodes,")
    print("process CPU time (libsumo runs in this process; other processes' load is not counted)")
    for name in contenders:
        spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
        print(f"  {name:11s} {rate[name]:8.1f} decision steps/s  ({spread} s CPU/episode)")
    print(f"ours vs sumo-rl, random actions: {rate['ours'] / rate['sumo-rl']:.2f}x as fast (goal >= 1)")
    print(
        f"ours vs bare-replay, same traffic: {rate['bare-replay'] / rate['ours']:.2f}x the time (goal <= 1.3)"
    )
    print(f"ours-fixed vs bare, same traffic: {rate['bare'] / rate['ours-fixed']:.2f}x the time")


if __name__ == "__main__":
    main()
