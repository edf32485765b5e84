"""Per-decision latency of the controller runtime against the same policy in PyTorch, same run.

A decision = observation assembly from detector readings (``ernie_deploy.features``) + inference +
the shield request (``ernie_deploy.timing``). The policy is the learners' shared agent network
(hidden 128-128, random weights: latency does not depend on training) on RESCO grid4x4, exported
as ``ernie-traffic export`` does: one ONNX model shared by the 16 intersections. Detector readings
are recorded from one SUMO episode driven by that policy and replayed to both paths, which run
interleaved, decision by decision:

- ONNX: ``ControllerRuntime.decide`` (one onnxruntime call for all its intersections, 1 thread);
- PyTorch: the same assembly and shield, inference by the in-process ``LearnedController.act``
  (all intersections in one batched forward) or, for one intersection, its policy module.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/runtime_latency.py --decisions 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from ernie_deploy.features import build_observation
from ernie_deploy.runtime import ControllerRuntime
from ernie_deploy.timing import SignalTimer

from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.export.bundle import SharedPolicy, export_bundle, input_rows
from ernie_traffic.models.networks import SharedAgentNet
from ernie_traffic.training.loop import spec_from_env

if TYPE_CHECKING:
    from ernie_traffic.controllers.learned import LearnedController

Readings = dict[str, tuple[np.ndarray, np.ndarray]]


def record_episode(env: TrafficSignalEnv, controller: LearnedController, steps: int):
    """Detector readings and observations of every decision of one episode driven by ``controller``."""
    observations, _ = env.reset(seed=0)
    bank = env.detectors
    readings: list[Readings] = []
    recorded: dict[str, list[np.ndarray]] = {a: [] for a in env.possible_agents}
    for _ in range(steps):
        readings.append(
            {
                a: (bank.counts_in[bank.incoming[a]].copy(), bank.queues_in[bank.incoming[a]].copy())
                for a in env.agents
            }
        )
        for agent, obs in observations.items():
            recorded[agent].append(obs)
        observations, _, _, truncations, _ = env.step(controller.act(observations))
        if all(truncations.values()):
            break
    return readings, {a: np.stack(rows) for a, rows in recorded.items()}


class TorchPath:
    """The decision of the runtime with PyTorch inference instead of onnxruntime."""

    def __init__(self, env: TrafficSignalEnv, controller: LearnedController, agents: list[str]) -> None:
        self.env, self.controller, self.agents = env, controller, agents
        self.modules = controller.policy_modules
        self.timers = {a: SignalTimer(env.intersections[a].green_states, env.timing) for a in agents}

    def decide(self, readings: Readings) -> None:
        observations = {}
        for agent, timer in self.timers.items():
            counts, queues = readings[agent]
            observations[agent] = build_observation(
                self.env.layouts[agent], counts, queues, timer.green, timer.in_transition, timer.time_in_stage
            )
        with torch.inference_mode():
            if len(self.agents) == len(self.env.possible_agents):
                actions = self.controller.act(observations)
            else:
                actions = {
                    a: int(self.modules[a](torch.from_numpy(observations[a])[None]).argmax())
                    for a in self.agents
                }
        for agent, timer in self.timers.items():
            timer.request(actions[agent])

    def advance(self, seconds: float) -> None:
        for timer in self.timers.values():
            timer.advance(seconds)


def time_decisions(bundle, env, controller, agents, stream) -> dict[str, dict[str, np.ndarray]]:
    """Per path: wall-clock latency (the runtime's own record for ONNX) and thread CPU time of each
    decision. CPU time leaves out preemption by other processes, which dominates wall-clock p99
    on a busy machine."""
    runtime = ControllerRuntime(bundle, intersections=agents, deadline_s=1.0)
    reference = TorchPath(env, controller, agents)
    interval = env.config.decision_interval
    cpu = {"onnx runtime": [], "pytorch": []}
    torch_wall = []
    for readings in stream:
        cpu_start = time.thread_time()
        runtime.decide(readings)
        cpu["onnx runtime"].append(time.thread_time() - cpu_start)
        cpu_start, start = time.thread_time(), time.perf_counter()
        reference.decide(readings)
        torch_wall.append(time.perf_counter() - start)
        cpu["pytorch"].append(time.thread_time() - cpu_start)
        runtime.advance(interval)
        reference.advance(interval)
    assert runtime.fallbacks.total() == 0, runtime.fallbacks
    return {
        "onnx runtime": {"wall": np.asarray(runtime.latency.samples), "cpu": np.asarray(cpu["onnx runtime"])},
        "pytorch": {"wall": np.asarray(torch_wall), "cpu": np.asarray(cpu["pytorch"])},
    }


def time_inference_only(bundle, controller, agent: str, observations: np.ndarray) -> tuple[float, float]:
    """Median µs of one model call alone on one intersection's input row, onnxruntime and the torch
    network, interleaved."""
    runtime = ControllerRuntime(bundle, intersections=[agent])
    policy = next(iter(runtime.policies.values()))
    rows = input_rows(observations, bundle.intersections[agent].model_input)
    onnx_s, torch_s = [], []
    with torch.inference_mode():
        for row in rows:
            row = row[None]
            start = time.perf_counter()
            policy.scores(row)
            middle = time.perf_counter()
            controller.net(torch.from_numpy(row))
            torch_s.append(time.perf_counter() - middle)
            onnx_s.append(middle - start)
    return float(np.median(onnx_s) * 1e6), float(np.median(torch_s) * 1e6)


def summary(samples: np.ndarray) -> tuple[float, float]:
    ms = samples[len(samples) // 10 :] * 1e3  # the first tenth warms caches up
    return float(np.median(ms)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="decisions timed per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    # Imported after ernie_traffic.training: importing controllers.learned first is an import cycle.
    from ernie_traffic.controllers.learned import LearnedController

    env = TrafficSignalEnv(TrafficEnvConfig(network="grid4x4"))
    try:
        env.reset(seed=0)
        net = SharedAgentNet(spec_from_env(env), [128, 128], pad_value=0.0).eval()
        controller = LearnedController("benchmark", "qcombo", "grid4x4", "q_values", net)
        controller.reset(env)
        readings, recorded = record_episode(env, controller, steps=720)
        agents = list(env.possible_agents)
        with tempfile.TemporaryDirectory() as tmp:
            spec = controller.spec
            shared = SharedPolicy(
                controller.net, spec.agents, pad_to=spec.max_obs, n_outputs=spec.max_actions
            )
            bundle = export_bundle(env, shared, tmp, recorded=recorded, training={}).bundle
            stream = [readings[i % len(readings)] for i in range(args.decisions)]
            first = agents[0]
            calls = np.resize(recorded[first], (args.decisions, recorded[first].shape[1]))
            onnx_us, torch_us = time_inference_only(bundle, controller, first, calls)
            print(
                f"grid4x4: {len(agents)} intersections, {len(readings)} recorded decisions replayed; "
                f"observation of {first}: {env.layouts[first].size} features"
            )
            print(
                f"inference alone, batch 1: onnxruntime {onnx_us:.1f} µs, torch {torch_us:.1f} µs "
                f"({torch_us / onnx_us:.1f}x)"
            )
            print(
                f"{'decision (assembly + inference + shield), ms':<46}{'median':>8}{'p99':>8}{'p99/tls':>9}"
                f"{'cpu p99':>9}{'cpu p99/tls':>12}"
            )
            for label, ids in (("1 intersection", [first]), (f"{len(agents)} intersections", agents)):
                results = time_decisions(bundle, env, controller, ids, stream)
                for name, samples in results.items():
                    median, p99 = summary(samples["wall"])
                    cpu_p99 = summary(samples["cpu"])[1]
                    n = len(ids)
                    print(
                        f"  {label + ', ' + name:<44}{median:>8.3f}{p99:>8.3f}{p99 / n:>9.3f}"
                        f"{cpu_p99:>9.3f}{cpu_p99 / n:>12.3f}"
                    )
                speedup = summary(results["pytorch"]["wall"])[0] / summary(results["onnx runtime"]["wall"])[0]
                print(f"  {label}: onnx runtime is {speedup:.1f}x faster than pytorch (medians)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
