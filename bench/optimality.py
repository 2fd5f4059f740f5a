"""Mapper vs exhaustive oracle on tiny layers: does the engine reach the true optimum?

For each tiny layer and objective, prints the oracle's optimum (complete enumeration of the same
mapping space, `search.oracle`), the engine's evaluated value (`search.engine.solve_layer`), their
ratio, the engine's status and both run times. Target: equal for latency and energy, EDP within
0.5 %.

    python bench/optimality.py [--preset balanced] [--solver highs]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    Layer,
    SolveOptions,
    exhaustive_search,
    load_hardware,
    matmul_layer,
    solve_layer,
)


def pad1(name: str, **dims) -> Layer:
    return Layer(name, pad_top=1, pad_bottom=1, pad_left=1, pad_right=1, **dims)


TINY_LAYERS = {
    "tiny": [
        pad1("conv3x3_c2k4", R=3, S=3, P=4, Q=4, C=2, K=4),
        pad1("conv3x3_c4k4_p2", R=3, S=3, P=2, Q=4, C=4, K=4),
        Layer("conv1x1_c8k4", P=4, Q=4, C=8, K=4),
        Layer("conv1x1_c4k8", P=4, Q=2, C=4, K=8),
        pad1("depthwise3x3_g4", R=3, S=3, P=2, Q=2, G=4),
        pad1("depthwise3x3_g8", R=3, S=3, P=2, Q=2, G=8),
        matmul_layer("matmul_8x8x8", 8, 8, 8),
        matmul_layer("matmul_4x16x4", 4, 16, 4),
        matmul_layer("attention_g2", 4, 4, 8, groups=2),
        pad1("conv3x3_s2", R=3, S=3, P=2, Q=2, C=4, K=4, stride_h=2, stride_w=2),
        Layer("conv1x1_s2", P=2, Q=2, C=8, K=4, stride_h=2, stride_w=2, input_h=4, input_w=4),
        Layer("batch2_1x1", P=2, Q=2, C=4, K=4, N=2),
    ],
    "default_8core": [
        Layer("conv1x1_c64k64_p4", P=4, Q=4, C=64, K=64),
        pad1("conv3x3_c32k16_p4", R=3, S=3, P=4, Q=4, C=32, K=16),
        matmul_layer("matmul_16x128x32", 16, 128, 32),
        pad1("depthwise3x3_g32", R=3, S=3, P=4, Q=4, G=32),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--solver", default="highs")
    parser.add_argument("--objectives", default="latency,energy,edp")
    args = parser.parse_args()
    options = SolveOptions(preset=args.preset, solver=args.solver)
    print(f"{'hardware':14} {'layer':20} {'objective':9} {'oracle':>12} {'mapper':>12} "
          f"{'ratio':>8} {'status':10} {'oracle_s':>8} {'mapper_s':>8}")  # fmt: skip
    worst = {}
    for hw_name, layers in TINY_LAYERS.items():
        hw = load_hardware(ROOT / "sample_configs" / "hardware" / f"{hw_name}.yaml")
        for layer in layers:
            for objective in args.objectives.split(","):
                start = time.monotonic()
                oracle = exhaustive_search(hw, layer, objective)
                oracle_s = time.monotonic() - start
                result = solve_layer(hw, layer, objective, options)
                ratio = result.value / oracle.value
                worst[objective] = max(worst.get(objective, 1.0), ratio)
                print(f"{hw_name:14} {layer.name:20} {objective:9} {oracle.value:12.6g} "
                      f"{result.value:12.6g} {ratio:8.5f} {result.status:10} {oracle_s:8.1f} "
                      f"{result.solve_time_s:8.1f}", flush=True)  # fmt: skip
    print("worst mapper/oracle ratio per objective:",
          ", ".join(f"{k} {v:.5f}" for k, v in worst.items()))  # fmt: skip


if __name__ == "__main__":
    main()
