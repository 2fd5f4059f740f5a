"""How much of the certified optimum the candidate-level bound explains.

For every certified ResNet-18 optimum in `tests/data/resnet18_certified.json` (default_8core,
latency, energy and EDP), the proven bound of the optimum's own spatial candidate and the
smallest bound over every candidate of the layer (what a search that proves nothing beyond the
candidate floors reports), both over the optimum. Prints one line per layer and objective and
the minimum and median per objective.

    python bench/bound_quality.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from miredo_core import (
    Mapping,
    evaluate,
    get_network,
    layer_floors,
    load_hardware,
    objective_value,
    spatial_bound,
)

ROOT = Path(__file__).resolve().parent.parent
OPTIMA = ROOT / "tests" / "data" / "resnet18_certified.json"
HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"


def main() -> None:
    data = json.loads(OPTIMA.read_text())
    hw = load_hardware(HARDWARE)
    layers = {layer.name: layer for layer in get_network(data["network"]).layers}
    ratios: dict[str, dict[str, list[float]]] = {}
    for row in data["optima"]:
        layer, objective = layers[row["layer"]], row["objective"]
        mapping = Mapping.from_dict(row["mapping"])
        value = objective_value(evaluate(hw, layer, mapping), objective)
        own = spatial_bound(hw, layer, mapping.spatial, objective) / value
        floor = layer_floors(hw, layer, objective)[2] / value
        ratios.setdefault(objective, {"own": [], "layer": []})
        ratios[objective]["own"].append(own)
        ratios[objective]["layer"].append(floor)
        print(f"{row['layer']:8} {objective:7} optimum {value:.6g}  own candidate bound "
              f"{own:.3f}  layer floor {floor:.3f}")  # fmt: skip
    print()
    for objective, found in ratios.items():
        own, floor = found["own"], found["layer"]
        print(f"{objective:7} ({len(own)} optima): own candidate bound / optimum min "
              f"{min(own):.3f} median {statistics.median(own):.3f}; layer floor / optimum min "
              f"{min(floor):.3f} median {statistics.median(floor):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
