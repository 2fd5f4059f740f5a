"""A persistent result store: every solved mapping problem, in one SQLite file.

A *problem* is (hardware, layer shape, objective, mapper, solver options); its *answer* is what
the mapper returned: the mapping (as `Mapping.to_json`), the status, the reason of an infeasible
layer, the search figures (predicted latency / energy, lower bound, gap, candidates) and the
solve time. Sweeps, `network.map_network` and the dashboard look problems up here before solving,
so a repeated or interrupted sweep resumes instead of recomputing, and a layer shape that recurs
across networks and design points is solved once.

What the key holds, and why, is in `problem_keys` (re-exported here).

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

Failures name the file and say what to do: a file that is not a result store (another SQLite
database, garbage), a damaged one (a corrupt page found while reading) or one that cannot be
opened raise `StoreError` with a hint to choose another store (`--store PATH`,
`$MIREDO_STORE`) or none (`--no-store`). A store that cannot be written (a read-only file or
directory) is not an error: it serves the answers it holds, new answers are not persisted, and
one warning says so.

Neighbours: `neighbour_mappings` reads the stored mappings of some layer shapes on a list of
other hardware points (any mapper, any options), so that a caller can try them on a new design
before its own answer exists (a mapping legal on one point may not be on another: re-evaluate).

The module is a little over 400 lines: it is one class whose opening, reading and writing share
one connection and its lock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from miredo_core.hardware import Hardware
from miredo_core.kinds import Objective
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.problem_keys import (
    Answer,
    ProblemKey,
    hardware_hash,
    problem_key,
)
from miredo_core.results import LayerResult
from miredo_core.search.engine import SolveOptions
from miredo_core.workload import Layer

__all__ = [
    "MEMORY",
    "STORE_ENV",
    "Answer",
    "ProblemKey",
    "ResultStore",
    "StoreError",
    "StoredMapping",
    "default_store_path",
    "hardware_hash",
    "problem_key",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STORE_ENV = "MIREDO_STORE"
"""Environment variable naming the store file (overrides the default location)."""
MEMORY = ":memory:"
"""Path of a store that lives only as long as its object (nothing is persisted)."""

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
    """The store file cannot be opened, is not a result store, is damaged, or has another
    schema version."""


_REMEDY = "delete or move it, or choose another store (--store PATH) or none (--no-store)"


def _is_read_only_error(error: sqlite3.Error) -> bool:
    message = str(error).lower()
    return "readonly" in message or "read-only" in message or "read only" in message


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


_T = TypeVar("_T")


@dataclass(frozen=True)
class StoredMapping:
    """One stored answer with a mapping, as `ResultStore.neighbour_mappings` returns it."""

    hardware_index: int
    """Position, in the caller's list, of the hardware point the answer was solved on."""
    mapper: str
    status: str
    mapping_json: str

    @property
    def mapping(self) -> Mapping:
        return Mapping.from_json(self.mapping_json)


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
        self.read_only = False
        try:
            if not memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect(str(self.path), uri=False)
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
            # A file we may not write (read-only file or directory: SQLite then cannot even
            # create its WAL index) fails with OperationalError; serve it read-only if we can.
            if not memory and isinstance(error, sqlite3.OperationalError):
                if Path(self.path).is_file():
                    return self._open_read_only(error)
            raise StoreError(self._not_a_store(error)) from error
        except StoreError:
            connection.close()
            raise
        return connection

    def _connect(self, target: str, uri: bool) -> sqlite3.Connection:
        return sqlite3.connect(
            target,
            timeout=self.timeout_s,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,
            uri=uri,
        )

    def _open_read_only(self, cause: sqlite3.Error) -> sqlite3.Connection:
        """The store opened for reading only, after `cause` prevented opening it for writing;
        `immutable` is the fallback when SQLite cannot create the WAL index next to a file in
        a read-only directory."""
        location = Path(self.path).resolve().as_posix()
        last_error: sqlite3.Error = cause
        self.read_only = True
        for query in ("mode=ro", "mode=ro&immutable=1"):
            try:
                connection = self._connect(f"file:{location}?{query}", uri=True)
                self._check_schema(connection)
            except sqlite3.DatabaseError as error:
                last_error = error
                continue
            logger.warning(
                "result store %s cannot be written (%s): stored answers are used, new ones "
                "are not saved (choose a writable store with --store PATH, or --no-store)",
                self.path,
                cause,
            )
            return connection
        raise StoreError(f"cannot read the result store {self.path}: {last_error}; {_REMEDY}")

    def _not_a_store(self, error: sqlite3.Error) -> str:
        if "not a database" in str(error).lower():
            return f"{self.path} is not a usable result store (not an SQLite database); {_REMEDY}"
        return f"{self.path} is not a usable result store ({error}); {_REMEDY}"

    def _check_schema(self, connection: sqlite3.Connection) -> None:
        """Refuse a database that is not a result store of this schema version."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
        if version == 0 and tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"{self.path} is an SQLite database but not a miredo result store (its tables: "
                f"{shown}); {_REMEDY}"
            )
        if version not in (0, SCHEMA_VERSION) or (version == 0 and self.read_only):
            raise StoreError(
                f"{self.path} has result-store schema version {version}, this version of "
                f"miredo reads version {SCHEMA_VERSION}; {_REMEDY}"
            )

    def _ensure_schema(self, connection: sqlite3.Connection) -> None:
        """Create the schema in an empty file, check the version of an existing one."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            self._check_schema(connection)
            if connection.execute("PRAGMA user_version").fetchone()[0] == 0:
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
    def _damaged(self, error: sqlite3.Error) -> StoreError:
        return StoreError(f"the result store {self.path} is damaged ({error}); {_REMEDY}")

    def __len__(self) -> int:
        with self._lock:
            try:
                return self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            except sqlite3.DatabaseError as error:
                raise self._damaged(error) from error

    def get_many(self, keys: Iterable[ProblemKey]) -> dict[str, Answer]:
        """The stored answers among `keys`, by `ProblemKey.digest`."""
        digests = sorted({key.digest for key in keys})
        found: dict[str, Answer] = {}
        with self._lock:
            for start in range(0, len(digests), _LOOKUP_CHUNK):
                chunk = digests[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = self._connection.execute(
                        "SELECT key, status, mapping, reason, search, solve_time_s FROM answers "
                        f"WHERE key IN ({marks})",
                        chunk,
                    ).fetchall()
                except sqlite3.DatabaseError as error:
                    raise self._damaged(error) from error
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

    def neighbour_mappings(
        self, hardware: Sequence[Hardware | str], layers: Sequence[Layer], objective: str
    ) -> list[list[StoredMapping]]:
        """Per layer of `layers`, every stored mapping of its shape on any point of `hardware`
        (Hardware objects or their `hardware_hash`), solved for `objective` or by a mapper that
        ignores it, whatever the mapper and options: ordered by hardware position, then mapper.
        The mappings are not evaluated here: on another hardware point they may be illegal."""
        hashes = [hw if isinstance(hw, str) else hardware_hash(hw) for hw in hardware]
        positions: dict[str, int] = {}
        for index, digest in enumerate(hashes):
            positions.setdefault(digest, index)
        # The shape as the key spells it (the mapper and options do not enter `layer_shape`).
        shapes = [problem_key("", layer, objective, "ws", SolveOptions()).layer_shape
                  for layer in layers]  # fmt: skip
        found: dict[str, list[StoredMapping]] = {shape: [] for shape in shapes}
        digests = list(positions)
        for start in range(0, len(digests), _LOOKUP_CHUNK // 2):
            chunk = digests[start : start + _LOOKUP_CHUNK // 2]
            for digest, shape, mapper, status, mapping in self._neighbour_rows(
                chunk, list(found), Objective.parse(objective).value
            ):
                found[shape].append(StoredMapping(positions[digest], mapper, status, mapping))
        for items in found.values():
            items.sort(key=lambda item: (item.hardware_index, item.mapper, item.mapping_json))
        return [list(found[shape]) for shape in shapes]

    def _neighbour_rows(self, hashes: list[str], shapes: list[str], objective: str) -> list:
        marks, shape_marks = ",".join("?" * len(hashes)), ",".join("?" * len(shapes))
        with self._lock:
            try:
                return self._connection.execute(
                    "SELECT hardware_hash, layer_shape, mapper, status, mapping FROM answers "
                    f"WHERE mapping IS NOT NULL AND hardware_hash IN ({marks}) "
                    f"AND layer_shape IN ({shape_marks}) AND objective IN (?, '-')",
                    [*hashes, *shapes, objective],
                ).fetchall()
            except sqlite3.DatabaseError as error:
                raise self._damaged(error) from error

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
            self._write(write)

    def _write(self, action: Callable[[], None]) -> None:
        """Run a write; a store found read-only turns into a read-only store (one warning),
        any other database failure is a StoreError naming the file."""
        if self.read_only:
            return
        try:
            self._retry(action)
        except sqlite3.DatabaseError as error:
            if not _is_read_only_error(error):
                raise self._damaged(error) from error
            self.read_only = True
            logger.warning(
                "result store %s cannot be written (%s): new answers are not saved (choose a "
                "writable store with --store PATH, or --no-store)",
                self.path,
                error,
            )

    def put(self, key: ProblemKey, answer: Answer) -> None:
        self.put_many([(key, answer)])

    def clear(self) -> None:
        """Forget every stored answer (the schema stays)."""
        with self._lock:
            self._write(lambda: self._connection.execute("DELETE FROM answers"))
