"""Speed of the tile-chain branch and bound, per node, on fixed searches.

Each case searches the few spatial candidates of a ResNet-18 shape with the smallest floor bound
for `--nodes` nodes, from no incumbent, `--repeats` times (best time kept). Every search does the
same work on any machine, so the node rate compares kernels, and the digest of every search's
(nodes, value, bound, mapping, stored label vectors) shows whether two kernels give the same
answers: equal digests, same search.

The cases cover the default point and two neighbours (cores=16, compartment depth 1), latency
and EDP.

    python bench/kernel.py [--nodes 300000] [--repeats 3] [--candidates 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    apply_variant,
    certify_candidate,
    get_network,
    load_hardware,
    spatial_candidates,
)

HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
#: (layer, objective, variant axis, value); None: the default point.
CASES = (
    ("Conv_5", "edp", None, None),
    ("Conv_6", "latency", None, None),
    ("Conv_1", "latency", "cores", 16),
    ("Conv_10", "edp", "cores", 16),
    ("Conv_5", "edp", "compartment_depth", 1),
    ("Conv_1", "latency", "compartment_depth", 1),
)


def _mapping_text(mapping) -> str:
    """A mapping as text that does not depend on set iteration order."""
    if mapping is None:
        return "none"
    return repr((mapping.spatial, mapping.loops, mapping.placement,
                 sorted(map(repr, mapping.double_buffered))))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=float, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=3)
    args = parser.parse_args()
    base = load_hardware(HARDWARE)
    layers = {layer.name: layer for layer in get_network("resnet18").layers}
    # Compile (or load the compiled kernel) before timing anything.
    warm = layers["Conv_12"]
    certify_candidate(base, warm, spatial_candidates(base, warm)[0], "latency", node_limit=100)
    records, total_s, total_nodes = [], 0.0, 0
    print(f"{'point':<22}{'layer':<9}{'objective':<10}{'nodes':>9}{'best s':>9}{'k nodes/s':>11}")
    for name, objective, axis, value in CASES:
        hw = base if axis is None else apply_variant(base, axis, value)
        point = "default" if axis is None else f"{axis}={value}"
        layer = layers[name]
        cands = sorted(spatial_candidates(hw, layer, objective), key=lambda c: c.bound(objective))
        for cand in cands[: args.candidates]:
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                result = certify_candidate(hw, layer, cand, objective, node_limit=args.nodes)
                best = min(best, time.perf_counter() - start)
            total_s += best
            total_nodes += result.nodes
            records.append((point, name, objective, result.nodes, repr(result.best_value),
                            repr(result.lower_bound), _mapping_text(result.mapping),
                            result.stats["stored_labels"]))  # fmt: skip
            print(f"{point:<22}{name:<9}{objective:<10}{result.nodes:>9}{best:>9.2f}"
                  f"{result.nodes / best / 1e3:>11.0f}")  # fmt: skip
    digest = hashlib.sha1(json.dumps(records).encode()).hexdigest()[:16]
    print(f"\n{len(records)} searches, {total_nodes} nodes in {total_s:.1f} s "
          f"({total_nodes / total_s / 1e3:.0f} k nodes/s); answers digest {digest}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
