"""The registry: one SQLite file (stdlib sqlite3) holding adapters and every run's tidy scores.

WAL mode lets readers work while a run records itself; every write is one `BEGIN IMMEDIATE` transaction, so two
processes recording at once queue instead of losing rows. The schema is versioned in the `meta` table and migrated
forward on open; a file from a newer version, a corrupt file or a SQLite file that is not a registry is refused
with the file left untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from harness.core.errors import HarnessError

APP = "harness-registry"
SCHEMA_VERSION = 2
# Index i holds the statements that take a registry from version i to i + 1.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE adapters (
            name TEXT PRIMARY KEY, path TEXT NOT NULL, fingerprint TEXT NOT NULL, base_model TEXT,
            base_fingerprint TEXT, peft TEXT NOT NULL, train_config TEXT, data_fingerprint TEXT, train_summary TEXT,
            tags TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL)""",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, directory TEXT NOT NULL, created TEXT NOT NULL, base_name TEXT NOT NULL,
            base_source TEXT NOT NULL, base_fingerprint TEXT NOT NULL, arms TEXT NOT NULL,
            accepted INTEGER NOT NULL DEFAULT 0, recorded TEXT NOT NULL)""",
        """CREATE TABLE scores (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, arm TEXT NOT NULL, adapter_name TEXT,
            adapter_fingerprint TEXT, task TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, stderr REAL,
            ci_lo REAL, ci_hi REAL, n INTEGER, higher_is_better INTEGER)""",
        "CREATE INDEX scores_by_metric ON scores (task, metric)",
        "CREATE INDEX scores_by_adapter ON scores (adapter_name)",
    ],
    # 1 -> 2: which task definition and which documents a score was measured on, so `best` compares like with like.
    ["ALTER TABLE scores ADD COLUMN task_key TEXT"],
]


def task_key(run: dict, task: str) -> str | None:
    """'<task definition hash>|<documents hash>': two scores are comparable only when both agree."""
    info = run.get("tasks", {}).get(task) or {}
    if not info.get("config_hash"):
        return None
    return f"{info['config_hash']}|{info.get('documents') or 'n=' + str(info.get('n_docs'))}"


def default_path() -> Path:
    env = os.environ.get("HARNESS_REGISTRY")
    if env:
        return Path(os.path.abspath(os.path.expanduser(env)))
    root = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(root) / "harness" / "registry.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    def __init__(self, path: Path | str | None = None, timeout: float = 60):
        self.path = Path(path).expanduser() if path else default_path()
        self.timeout = timeout  # seconds to wait for another process's write lock
        self.conn = self._open()

    @classmethod
    def existing(cls, path: Path | str | None = None) -> Registry | None:
        """The registry if its file exists (checked as usual), else None: reading must not create the file, so a
        command that fails on bad input leaves nothing behind."""
        p = Path(path).expanduser() if path else default_path()
        if p.exists() and p.is_dir():
            raise HarnessError(f"registry {p}: is a folder; give a file path with --registry")
        return cls(p) if p.exists() else None

    # --- opening, checking, migrating -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        p = self.path
        if p.exists() and p.is_dir():
            raise HarnessError(f"registry {p}: is a folder; give a file path with --registry")
        fresh = not p.exists() or p.stat().st_size == 0
        if fresh:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise HarnessError(f"registry {p}: cannot create its folder ({e.strerror})") from None
        try:
            conn = sqlite3.connect(str(p), timeout=self.timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            version = 0 if fresh else self._version(conn)
        except sqlite3.DatabaseError as e:
            raise HarnessError(f"registry {p}: not a readable SQLite file ({e}); the file was left untouched: "
                               "move it away or give another --registry") from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise HarnessError(f"registry {p}: schema version {version} is newer than this harness understands "
                               f"({SCHEMA_VERSION}); upgrade the harness (the file was left untouched)")
        self._wal(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            self._migrate(conn, version)
        return conn

    @staticmethod
    def _wal(conn) -> None:
        """WAL mode is stored in the file, so this usually only reads it; switching needs a moment alone with the
        file, and SQLite does not wait for that by itself, hence the retries."""
        import time

        for attempt in range(200):  # at most ~10 s
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 199:
                    raise HarnessError(f"registry: cannot switch to WAL mode ({e})") from None
                time.sleep(0.05)

    def _version(self, conn) -> int:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return 0  # an empty database (another process may be creating the registry right now)
        if "meta" not in tables:
            raise HarnessError(f"registry {self.path}: a SQLite file, but not a harness registry (no meta table); "
                               "the file was left untouched: give another --registry")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("app") != APP:
            raise HarnessError(f"registry {self.path}: a SQLite file of another application; the file was left "
                               "untouched: give another --registry")
        return int(meta.get("schema_version", 0))

    def _migrate(self, conn, version: int) -> None:
        with self._tx(conn):
            # Another process may have migrated while we waited for the write lock: read the version again.
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
                version = self._version(conn)
            for v in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[v]:
                    conn.execute(stmt)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('app', ?)", (APP,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def _tx(self, conn=None):
        conn = conn or self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # --- adapters -----------------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM adapters ORDER BY name")]

    def get(self, name: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM adapters WHERE name = ?", (name,)).fetchone()
        return _adapter(row) if row else None

    def require(self, name: str) -> dict:
        entry = self.get(name)
        if entry is None:
            import difflib

            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
            hint = f"close matches: {', '.join(close)}" if close else "`harness registry list` shows the names"
            raise HarnessError(f"registry: no adapter named '{name}' ({hint})")
        return entry

    def add_adapter(self, entry: dict, replace: bool = False) -> None:
        with self._tx():
            if not replace and self.conn.execute("SELECT 1 FROM adapters WHERE name = ?", (entry["name"],)).fetchone():
                raise HarnessError(f"registry: the name '{entry['name']}' is taken; choose another --name "
                                   f"(or `harness registry remove {entry['name']}` first)")
            self.conn.execute(
                "INSERT OR REPLACE INTO adapters VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (entry["name"], entry["path"], entry["fingerprint"], entry.get("base_model"),
                 entry.get("base_fingerprint"), json.dumps(entry.get("peft", {})), _j(entry.get("train_config")),
                 entry.get("data_fingerprint"), _j(entry.get("train_summary")), json.dumps(entry.get("tags", [])),
                 entry.get("created") or _now()),
            )

    def remove_adapter(self, name: str) -> dict:
        entry = self.require(name)
        with self._tx():
            self.conn.execute("DELETE FROM adapters WHERE name = ?", (name,))
        return entry

    def adapters(self) -> list[dict]:
        return [_adapter(r) for r in self.conn.execute("SELECT * FROM adapters ORDER BY created, name")]

    # --- runs and scores ----------------------------------------------------------------------------------------

    def record_run(self, run: dict, directory: str, adapter_names: dict[str, str]) -> None:
        """Record a run and its scores in one transaction; recording the same run again replaces it."""
        fps = {a["name"]: (a["adapter"] or {}).get("fingerprint") for a in run["arms"]}
        with self._tx():
            self.conn.execute("DELETE FROM runs WHERE run_id = ?", (run["run_id"],))
            self.conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,0,?)",
                (run["run_id"], directory, run["created"], run["base"]["name"], run["base"]["source"],
                 run["base"]["fingerprint"], json.dumps(run["arms"]), _now()),
            )
            self.conn.executemany(
                "INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(run["run_id"], s["arm"], adapter_names.get(s["arm"]), fps.get(s["arm"]), s["task"], s["metric"],
                  s["value"], s.get("stderr"), *(s.get("ci95") or (None, None)), s.get("n"),
                  None if s.get("higher_is_better") is None else int(s["higher_is_better"]), task_key(run, s["task"]))
                 for s in run["scores"]],
            )

    def task_sizes(self) -> dict[str, list[tuple[str, int]]]:
        """run_id -> [(task, documents)] from the recorded scores."""
        out: dict[str, list] = {}
        for r in self.conn.execute("SELECT run_id, task, MAX(n) FROM scores WHERE arm = 'base' GROUP BY run_id, task "
                                   "ORDER BY run_id, task"):
            out.setdefault(r[0], []).append((r[1], r[2]))
        return out

    def runs(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY created, run_id")]

    def find_run(self, ref: str) -> dict:
        """A run by id, or by its directory."""
        row = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (ref,)).fetchone()
        if row is None:
            directory = str(Path(ref).expanduser().resolve())
            row = self.conn.execute("SELECT * FROM runs WHERE directory = ? ORDER BY recorded DESC", (directory,)).fetchone()
        if row is None:
            raise HarnessError(f"registry: no run '{ref}' (give a run id or a run directory that `harness run` recorded)")
        return dict(row)

    def accept(self, ref: str) -> dict:
        """Mark a run as the accepted baseline for its base model (one per base fingerprint)."""
        run = self.find_run(ref)
        with self._tx():
            self.conn.execute("UPDATE runs SET accepted = 0 WHERE base_fingerprint = ?", (run["base_fingerprint"],))
            self.conn.execute("UPDATE runs SET accepted = 1 WHERE run_id = ?", (run["run_id"],))
        return self.find_run(run["run_id"])

    def accepted(self, base_fingerprint: str | None = None) -> dict | None:
        sql, args = "SELECT * FROM runs WHERE accepted = 1", ()
        if base_fingerprint:
            sql, args = sql + " AND base_fingerprint = ?", (base_fingerprint,)
        row = self.conn.execute(sql + " ORDER BY recorded DESC", args).fetchone()
        return dict(row) if row else None

    def history(self, name: str) -> list[dict]:
        entry = self.require(name)
        rows = self.conn.execute(
            "SELECT r.run_id, r.created, r.directory, s.task, s.metric, s.value, s.ci_lo, s.ci_hi, s.n "
            "FROM scores s JOIN runs r USING (run_id) WHERE s.adapter_name = ? OR s.adapter_fingerprint = ? "
            "ORDER BY r.created, s.task, s.metric", (name, entry["fingerprint"]))
        return [dict(r) for r in rows]

    def best(self, task: str, metric: str) -> list[dict]:
        """Adapter arms ranked by task/metric (direction from higher_is_better), like with like: only scores
        measured with the same task definition on the same documents as the newest run's are ranked
        (`comparable` true); the others are returned after them with `comparable` false and the reason. Each row
        carries the score's stored 95% CI (`ci_lo`, `ci_hi`; None when its run recorded none)."""
        rows = [dict(r) for r in self.conn.execute(
            "SELECT s.adapter_name, s.arm, s.value, s.ci_lo, s.ci_hi, s.n, s.higher_is_better, s.task_key, s.run_id, "
            "r.created, r.rowid AS recorded_order, r.arms FROM scores s JOIN runs r USING (run_id) WHERE s.task = ? "
            "AND s.metric = ? AND s.adapter_fingerprint IS NOT NULL", (task, metric))]
        for r in rows:  # a checkpoint's training step, as its run recorded it (None for an adapter of no sweep)
            arm = next((a for a in json.loads(r.pop("arms")) if a["name"] == r["arm"]), None)
            r["step"] = (((arm or {}).get("adapter") or {}).get("checkpoint") or {}).get("step")
        if not rows:
            known = sorted({f"{r[0]}/{r[1]}" for r in self.conn.execute("SELECT DISTINCT task, metric FROM scores")})
            raise HarnessError(f"registry: no adapter scores for task '{task}', metric '{metric}'"
                               + (f"; recorded: {', '.join(known[:20])}" if known else "; no runs recorded yet"))
        lower = rows[0]["higher_is_better"] == 0
        newest = max(rows, key=lambda r: r["recorded_order"])  # the run recorded last (created has 1 s resolution)
        for r in rows:
            same = r["task_key"] is not None and r["task_key"] == newest["task_key"]
            r["comparable"] = same
            if same:
                r["reason"] = ""
            elif r["task_key"] is None:
                r["reason"] = "recorded before the registry kept task definitions"
            elif r["task_key"].split("|")[0] != (newest["task_key"] or "").split("|")[0]:
                r["reason"] = "another task definition (prompt, settings or data source)"
            else:
                r["reason"] = f"other documents (n={r['n']} vs n={newest['n']} in the newest run)"
        rows.sort(key=lambda r: (not r["comparable"], r["value"] if lower else -r["value"]))
        for r in rows:
            del r["recorded_order"]
        return rows


def _j(value) -> str | None:
    return None if value is None else json.dumps(value)


def _adapter(row) -> dict:
    d = dict(row)
    for k in ("peft", "train_config", "train_summary", "tags"):
        if d.get(k) is not None:
            d[k] = json.loads(d[k])
    return d
