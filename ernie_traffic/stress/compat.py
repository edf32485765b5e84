"""Does a learned controller fit a network? Same intersections, same observation size per intersection."""

from __future__ import annotations

from typing import Any

from ernie_deploy.cabinet import Cabinet

from ernie_traffic.controllers.bundled import BundleController


def network_interface(network: str) -> tuple[dict[str, int], Cabinet]:
    """Observation size per intersection of ``network``, read from a freshly reset environment,
    and what its signals enforce (phase tables, timing: ``TrafficSignalEnv.cabinet``)."""
    from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv

    env = TrafficSignalEnv(TrafficEnvConfig(network=network))
    try:
        env.reset(seed=0)
        sizes = {agent: int(env.observation_space(agent).shape[0]) for agent in env.possible_agents}
        return sizes, env.cabinet
    finally:
        env.close()


def incompatibilities(controller: Any, network: str) -> list[str]:
    """Problems that keep ``controller`` from driving ``network``; empty when it fits (an exported
    bundle must also fit the network's phase tables and timing)."""
    expected = {agent: spec["obs_dim"] for agent, spec in controller.observation_spec.items()}
    actual, cabinet = network_interface(network)
    problems = []
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    if missing or extra:
        problems.append(
            f"intersections differ from network {network!r}: "
            f"trained on {len(expected)} ({', '.join(missing) or 'none'} not in the network), "
            f"network has {len(actual)} ({', '.join(extra) or 'none'} unknown to the controller)"
        )
    for agent in sorted(set(expected) & set(actual)):
        if expected[agent] != actual[agent]:
            problems.append(
                f"intersection {agent!r}: observation size {actual[agent]} on network {network!r}, "
                f"controller expects {expected[agent]}"
            )
    if isinstance(controller, BundleController) and not problems:
        misfit = controller.misfit(cabinet)
        problems += [misfit] if misfit else []
    return problems
