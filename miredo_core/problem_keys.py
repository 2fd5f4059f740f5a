"""Keys and answers of the result store: what identifies a mapping problem, what is kept of
its answer.

A *problem* is (hardware, layer shape, objective, mapper, solver options); its *answer* is what
the mapper returned: the mapping (as `Mapping.to_json`), the status, the reason of an infeasible
layer, the search figures and the solve time.

What the key holds, and why (`problem_key`): everything that can change the answer, nothing
else.

* hardware: a SHA-256 of `config.hardware_to_dict` as canonical JSON (sorted keys), *without*
  `name` and `description`: a variant's name records how it was derived (`default_8core[cores=8]`)
  but two equal accelerators are the same problem whatever they are called;
* the layer's `Layer.shape_key()` (the name and kind are labels, not part of the problem);
* the objective, except for a mapper registered as objective-blind (the weight-stationary
  one), whose answer ignores it;
* the mapper name, and the `SolveOptions` fields that mapper's answer depends on, as its
  registry entry declares them (`mappers.Mapper.option_fields`): for `mip` every field but the
  speed-only `threads` and `workers` (`mappers.SPEED_ONLY_OPTIONS`), plus the preset's resolved
  budget; the seed for `random`; none for `ws` and `exhaustive`; all of them for a mapper that
  does not say.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from miredo_core import cost_model
from miredo_core.config import hardware_to_dict
from miredo_core.hardware import Hardware
from miredo_core.mappers import get_mapper
from miredo_core.mapping import Mapping
from miredo_core.results import LayerResult
from miredo_core.search.engine import SolveOptions
from miredo_core.search.presets import Preset, budget_key
from miredo_core.workload import Layer


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Preset):
        return budget_key(value)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def hardware_hash(hw: Hardware) -> str:
    """SHA-256 of the hardware's canonical JSON, name and description left out."""
    section = dict(hardware_to_dict(hw)["hardware"])
    section.pop("name", None)
    section.pop("description", None)
    return hashlib.sha256(_canonical(section).encode()).hexdigest()


@dataclass(frozen=True)
class ProblemKey:
    """The parts of a problem that can change its answer (see the module docstring)."""

    hardware_hash: str
    layer_shape: str
    objective: str
    mapper: str
    options: str

    @property
    def digest(self) -> str:
        """The primary key: a SHA-256 over all the parts."""
        return hashlib.sha256(_canonical(dataclasses.astuple(self)).encode()).hexdigest()


def problem_key(
    hw: Hardware | str, layer: Layer, objective: str, mapper: str, options: SolveOptions
) -> ProblemKey:
    """The key of one problem; `hw` may be a precomputed `hardware_hash` (sweeps hash each
    point once)."""
    registered = get_mapper(mapper)
    fields = registered.key_options(options)
    return ProblemKey(
        hardware_hash=hw if isinstance(hw, str) else hardware_hash(hw),
        layer_shape=_canonical(layer.shape_key()),
        objective="-" if registered.objective_blind else objective,
        mapper=mapper,
        options=_canonical({name: _plain(getattr(options, name)) for name in fields}),
    )


@dataclass(frozen=True)
class Answer:
    """A mapper's answer as plain data (it pickles and crosses process / machine boundaries)."""

    status: str
    mapping_json: str | None
    reason: str = ""
    search: dict[str, float] = dataclasses.field(default_factory=dict)
    solve_time_s: float = 0.0

    @classmethod
    def from_result(cls, result: LayerResult) -> Answer:
        if result.status == "cancelled":
            raise ValueError("a cancelled layer has no answer to store")
        return cls(
            status=result.status,
            mapping_json=None if result.mapping is None else result.mapping.to_json(),
            reason=result.reason,
            search={key: float(value) for key, value in result.search.items()},
            solve_time_s=float(result.solve_time_s),
        )

    def to_result(self, hw: Hardware, layer: Layer, mapper: str, objective: str) -> LayerResult:
        """The LayerResult of this answer for `layer` on `hw`, its cost re-evaluated by
        `cost_model.evaluate`. Raises InfeasibleMappingError if the model rejects the mapping."""
        mapping = None if self.mapping_json is None else Mapping.from_json(self.mapping_json)
        return LayerResult(
            layer=layer,
            mapper=mapper,
            objective=objective,
            status=self.status,
            mapping=mapping,
            cost=None if mapping is None else cost_model.evaluate(hw, layer, mapping),
            reason=self.reason,
            solve_time_s=self.solve_time_s,
            search=dict(self.search),
        )
