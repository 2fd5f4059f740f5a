"""Fidelity of the analytical cost model against the iteration-level simulator.

Over every layer of ResNet-18 and MobileNetV2 on the default 8-core template, for the WS mapping
and for N random valid mappings per layer: the relative latency error (simulator vs
`cost_model.evaluate`), the relative error of the total energy (leakage included, so it follows
the latency error) and of the dynamic energy (traffic + MAC, which must agree exactly), the
worst case and where it occurs, how many mappings are off by more than 5 %, and the simulator's
wall time per mapping.

    python bench/fidelity.py [--random 5] [--seed 0] [--networks resnet18,mobilenet_v2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    evaluate,
    get_network,
    load_hardware,
    random_mapping,
    simulate,
    weight_stationary,
)

#: Latency error above which a mapping counts as a disagreement (the tests' tolerance).
TOLERANCE = 0.05


@dataclass(frozen=True)
class Sample:
    where: str
    latency_error: float
    """(simulated - analytical) / analytical; positive: the model is optimistic."""
    energy_error: float
    dynamic_energy_error: float
    simulator_s: float


def relative(simulated: float, analytical: float) -> float:
    return (simulated - analytical) / analytical


def measure(hw, layer, mapping, where: str) -> Sample:
    cost = evaluate(hw, layer, mapping)
    start = time.perf_counter()
    result = simulate(hw, layer, mapping)
    elapsed = time.perf_counter() - start
    dynamic = cost.energy_pj - cost.leakage_energy_pj
    return Sample(
        where=where,
        latency_error=relative(result.latency_cycles, cost.latency_cycles),
        energy_error=relative(result.energy_pj, cost.energy_pj),
        dynamic_energy_error=relative(result.energy_pj - result.leakage_energy_pj, dynamic),
        simulator_s=elapsed,
    )


def row(mapper: str, network: str, samples: list[Sample]) -> str:
    def worst(attribute: str) -> Sample:
        return max(samples, key=lambda s: abs(getattr(s, attribute)))

    latency = [abs(s.latency_error) for s in samples]
    energy = [abs(s.energy_error) for s in samples]
    times_ms = [1000 * s.simulator_s for s in samples]
    off = sum(1 for value in latency if value > TOLERANCE)
    worst_latency = worst("latency_error")
    return (
        f"{mapper:<7}{network:<13}{len(samples):>5}"
        f"{statistics.mean(latency):>9.2%}{worst_latency.latency_error:>+9.2%} "
        f"{worst_latency.where if worst_latency.latency_error else '-':<26}{off:>4}"
        f"{statistics.mean(energy):>9.2%}{worst('energy_error').energy_error:>+9.2%}"
        f"{abs(worst('dynamic_energy_error').dynamic_energy_error):>10.1e}"
        f"{statistics.mean(times_ms):>8.1f}{max(times_ms):>8.1f}"
    )


HEADER = (
    f"{'':<7}{'':<13}{'':>5}{'latency error':^44}{'energy error':^18}{'dynamic':>10}"
    f"{'sim ms/map':^16}\n"
    f"{'mapper':<7}{'network':<13}{'maps':>5}{'mean':>9}{'worst':>9} {'worst at':<26}"
    f"{'>5%':>4}{'mean':>9}{'worst':>9}{'worst':>10}{'mean':>8}{'max':>8}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=5, help="random mappings per layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--networks", default="resnet18,mobilenet_v2")
    args = parser.parse_args()
    start = time.perf_counter()
    hw = load_hardware(ROOT / "sample_configs" / "hardware" / "default_8core.yaml")
    by_mapper: dict[str, dict[str, list[Sample]]] = {"ws": {}, "random": {}}
    for name in args.networks.split(","):
        network = get_network(name)
        for mapper in by_mapper:
            by_mapper[mapper][name] = []
        for layer in network.layers:
            mapping = weight_stationary(hw, layer)
            where = f"{name}/{layer.name}"
            by_mapper["ws"][name].append(measure(hw, layer, mapping, where))
            for k in range(args.random):
                rng = random.Random(f"{args.seed}:{name}:{layer.name}:{k}")
                mapping = random_mapping(hw, layer, rng)
                sample = measure(hw, layer, mapping, f"{where} #{k}")
                by_mapper["random"][name].append(sample)
    print(
        f"analytical vs simulator on {hw.name}, {args.random} random mapping(s) per layer, "
        f"seed {args.seed}; error = (simulated - analytical) / analytical"
    )
    print(HEADER)
    for mapper, networks in by_mapper.items():
        everything = [s for samples in networks.values() for s in samples]
        if not everything:
            continue
        for name, samples in networks.items():
            print(row(mapper, name, samples))
        if len(networks) > 1:
            print(row(mapper, "all", everything))
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
