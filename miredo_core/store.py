"""A persistent result store: every solved mapping problem, in one SQLite file.

A *problem* is (hardware, layer shape, objective, mapper, solver options); its *answer* is what
the mapper returned: the mapping (as `Mapping.to_json`), the status, the reason of an infeasible
layer, the search figures (predicted latency / energy, lower bound, gap, candidates) and the
solve time. Sweeps, `map_network_stored` and the dashboard look problems up here before solving,
so a repeated or interrupted sweep resumes instead of recomputing, and a layer shape that recurs
across networks and design points is solved once.

What the key holds, and why (`problem_key`): everything that can change the answer, nothing
else.

* hardware: a SHA-256 of `config.hardware_to_dict` as canonical JSON (sorted keys), *without*
  `name` and `description`: a variant's name records how it was derived (`default_8core[cores=8]`)
  but two equal accelerators are the same problem whatever they are called;
* the layer's `Layer.shape_key()` (the name and kind are labels, not part of the problem);
* the objective, except for the weight-stationary mapper, which ignores it;
* the mapper name, and the `SolveOptions` fields that mapper reads (`MAPPER_OPTION_FIELDS`):
  preset and its resolved budget, time limit, solver, seed and gap tolerance for `mip` (the
  tolerance decides between `optimal` and `best_found`), the seed for `random`, none for `ws`.
  `threads` and `workers` are left out: they change how fast an answer comes, not what the
  problem is.

Costs are not stored: reading an answer re-evaluates its mapping with `cost_model.evaluate`,
the single source of truth for cost, so a stored answer can never disagree with the model. An
answer whose mapping the current model rejects is treated as absent (and solved again).
Infeasible answers are stored (they are answers); cancelled layers never are.

Time-limited presets are not deterministic across machine load: the store keeps the first
answer written for a key (INSERT OR IGNORE), so every later reader sees the same one.

Concurrency: several processes may read and write one file at once. The database runs in WAL
mode (readers never block the writer), every write is one short `BEGIN IMMEDIATE` transaction,
SQLite's busy timeout waits for a competing writer, and a write that still finds the database
locked is retried with back-off. The schema version lives in `PRAGMA user_version` and is
checked on open; a store written by another schema version is refused with a message, never
silently rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from miredo_core import cost_model
from miredo_core.config import hardware_to_dict
from miredo_core.hardware import Hardware
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.results import LayerResult
from miredo_core.search.engine import SolveOptions
from miredo_core.workload import Layer

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STORE_ENV = "MIREDO_STORE"
"""Environment variable naming the store file (overrides the default location)."""
MEMORY = ":memory:"
"""Path of a store that lives only as long as its object (nothing is persisted)."""

#: The SolveOptions fields each mapper reads; a mapper not listed here is keyed on all of them.
MAPPER_OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    # `budget` is the preset's resolved budget: a preset whose meaning changes (for instance
    # `thorough` gaining certification) never serves answers computed under the old one.
    "mip": ("preset", "budget", "time_limit_s", "solver", "seed", "gap_tolerance"),
    "random": ("seed",),
    "ws": (),
    "exhaustive": (),
}
#: Mappers whose answer does not depend on the objective.
OBJECTIVE_BLIND_MAPPERS = frozenset({"ws"})

_WRITE_ATTEMPTS = 8
_LOOKUP_CHUNK = 500  # well below SQLite's limit on bound parameters per statement

_SCHEMA = """
CREATE TABLE answers (
    key TEXT PRIMARY KEY,
    hardware_hash TEXT NOT NULL,
    layer_shape TEXT NOT NULL,
    objective TEXT NOT NULL,
    mapper TEXT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    mapping TEXT,
    reason TEXT NOT NULL,
    search TEXT NOT NULL,
    solve_time_s REAL NOT NULL,
    created_at REAL NOT NULL
)
"""


class StoreError(RuntimeError):
    """The store file cannot be opened, is not a result store, or has another schema version."""


def default_store_path() -> Path:
    """$MIREDO_STORE if set, else `miredo/results.sqlite3` under the user's cache directory
    (XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, LOCALAPPDATA on Windows)."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        cache = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "miredo" / "results.sqlite3"


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
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
    fields = MAPPER_OPTION_FIELDS.get(mapper, tuple(f.name for f in dataclasses.fields(options)))
    return ProblemKey(
        hardware_hash=hw if isinstance(hw, str) else hardware_hash(hw),
        layer_shape=_canonical(layer.shape_key()),
        objective="-" if mapper in OBJECTIVE_BLIND_MAPPERS else objective,
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


_T = TypeVar("_T")


class ResultStore:
    """The SQLite result store at `path` (default: `default_store_path()`; MEMORY for none).

    One object holds one connection, guarded by a lock so that threads may share it. It pickles
    as its path (a worker process reopens the same file).
    """

    def __init__(self, path: str | Path | None = None, timeout_s: float = 30.0) -> None:
        self.path = default_store_path() if path is None else path
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._connection = self._open()

    # ------------------------------------------------------------ opening
    def _open(self) -> sqlite3.Connection:
        memory = str(self.path) == MEMORY
        try:
            if not memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                str(self.path),
                timeout=self.timeout_s,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the result store {self.path}: {error}") from error
        try:
            if not memory:
                self._retry(lambda: connection.execute("PRAGMA journal_mode=WAL").fetchone())
                # WAL + NORMAL survives a crash of any process; only a power cut can lose the
                # last few answers, which a cache can afford.
                connection.execute("PRAGMA synchronous=NORMAL")
            self._retry(lambda: self._ensure_schema(connection))
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StoreError(f"{self.path} is not a usable result store: {error}") from error
        except StoreError:
            connection.close()
            raise
        return connection

    def _ensure_schema(self, connection: sqlite3.Connection) -> None:
        """Create the schema in an empty file, check the version of an existing one."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
            if version == 0 and not tables:
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has result-store schema version {version}, this version of "
                    f"miredo reads version {SCHEMA_VERSION}; delete the file or choose another "
                    "store path"
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _retry(self, action: Callable[[], _T]) -> _T:
        """Run `action`, retrying with jittered exponential back-off while the database is
        locked or busy beyond the busy timeout."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return action()
            except sqlite3.OperationalError as error:
                message = str(error).lower()
                transient = "locked" in message or "busy" in message
                if not transient or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                delay = min(0.05 * 2**attempt, 2.0) * (0.5 + random.random())
                logger.debug("result store busy (%s), retrying in %.2f s", error, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ pickling, closing
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["timeout_s"])

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def get_many(self, keys: Iterable[ProblemKey]) -> dict[str, Answer]:
        """The stored answers among `keys`, by `ProblemKey.digest`."""
        digests = sorted({key.digest for key in keys})
        found: dict[str, Answer] = {}
        with self._lock:
            for start in range(0, len(digests), _LOOKUP_CHUNK):
                chunk = digests[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    "SELECT key, status, mapping, reason, search, solve_time_s FROM answers "
                    f"WHERE key IN ({marks})",
                    chunk,
                ).fetchall()
                for digest, status, mapping, reason, search, seconds in rows:
                    found[digest] = Answer(status, mapping, reason, json.loads(search), seconds)
        return found

    def get(self, key: ProblemKey) -> Answer | None:
        return self.get_many([key]).get(key.digest)

    def lookup(
        self, hw: Hardware, layer: Layer, objective: str, mapper: str, options: SolveOptions
    ) -> LayerResult | None:
        """The stored result of one problem, re-evaluated on `hw`; None when absent (or when
        the current cost model rejects the stored mapping)."""
        answer = self.get(problem_key(hw, layer, objective, mapper, options))
        if answer is None:
            return None
        try:
            return answer.to_result(hw, layer, mapper, objective)
        except InfeasibleMappingError as error:
            logger.info("stored mapping of %s no longer valid (%s); solving again", layer, error)
            return None

    # ------------------------------------------------------------ writing
    def put_many(self, items: Iterable[tuple[ProblemKey, Answer]]) -> None:
        """Store answers in one transaction; a key already present keeps its first answer."""
        rows = [
            (
                key.digest,
                key.hardware_hash,
                key.layer_shape,
                key.objective,
                key.mapper,
                key.options,
                answer.status,
                answer.mapping_json,
                answer.reason,
                json.dumps({k: v for k, v in answer.search.items() if not math.isnan(v)}),
                answer.solve_time_s,
                time.time(),
            )
            for key, answer in items
        ]
        if not rows:
            return

        def write() -> None:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany(
                    "INSERT OR IGNORE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows
                )
                self._connection.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise

        with self._lock:
            self._retry(write)

    def put(self, key: ProblemKey, answer: Answer) -> None:
        self.put_many([(key, answer)])

    def clear(self) -> None:
        """Forget every stored answer (the schema stays)."""
        with self._lock:
            self._retry(lambda: self._connection.execute("DELETE FROM answers"))
