"""The validated store: what passed the contract on earlier nights, so that a night validates
only what changed in the county's export (issue 21).

A county's export grows by about one attendance row per student a day, yet a full load
(:func:`features.load.load_tables`) reads, maps, pseudonymises and coerces every row of the
school year every night. The store keeps, next to the ledger, each source file's rows as they
left :func:`~features.load.coerce_table`: contract dtypes, ids already hashed, with their row
rejects, as Parquet. A later night

1. hashes each source file (its size and modification time are a fast pre-check): an
   unchanged file is not read at all, its rows come from the store;
2. reads a changed file and fingerprints its rows; the file is cut into *partitions*, ranges of
   file rows, each with the checksum of its rows' fingerprints. A partition whose rows are
   unchanged is reused; the rows after the last partition (the day's new rows) are validated
   and written as one new partition (a night only appends); a partition whose rows changed (a
   corrected attendance sheet for last month) is validated again and rewritten, and the night
   says so (:attr:`StoreNight.lines`);
3. runs the checks that need whole tables (:func:`~features.load.validate_coerced`: key
   uniqueness, row rules, rules between tables, unknown students, the reject share) over the
   stored rows and tonight's: keys are checked against the store, not by reading the sources
   again.

The result is the full load's, value for value and dtype for dtype, rejects file included
(``tests/features/test_store.py`` replays many nights with corrections and checks it).

Reliability. Partition files and manifests are written to a temporary name, then renamed; a
manifest (``manifests/<generation>.json``) is immutable and names its partitions. The
ledger's run row records the generation its night loaded (``runs.store_generation``), and the
next night starts from the generation of the last completed run: a night killed at any point
leaves the ledger and the store consistent (at worst some unreferenced files, removed by the
next night's :meth:`ValidatedStore.publish`). The store is a cache of the sources: deleting it
is always safe (the next night rebuilds it), and a change of the loading configuration, the
salt (its fingerprint is in :func:`store_key`) or the code rebuilds it.

What is not stored (loaded in full every night, as before): a database source, XLSX
workbooks, and CSV files with title rows above the header (``[data] header_row``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.config import DataConfig
from features.contract import TABLES
from features.load import (
    LoadResult,
    coerce_table,
    is_url,
    load_tables,
    read_file,
    roster_ids,
    source_files,
    validate_coerced,
)

__all__ = [
    "STORE_FORMAT",
    "PART_ROWS",
    "StoreNight",
    "ValidatedStore",
    "store_key",
    "store_step",
    "load_with_store",
    "row_fingerprints",
]

log = logging.getLogger(__name__)

#: the store's layout version (a store of another version is rebuilt)
STORE_FORMAT = 1

#: a source read in full is cut into partitions of at most this many file rows
PART_ROWS = 1 << 20

_NULL = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_ROW = np.uint64(0x100000001B3)


def store_step(name: str) -> None:
    """The store's fault seam: called after each step that writes (``part``, ``manifest``,
    ``current``) and between the load's steps (``planned``, ``validated``). Does nothing; the
    kill tests patch it to raise or to end the process there."""


@dataclass(frozen=True)
class StoreNight:
    """What the store did for one night's load.

    ``generation``: the manifest the night loaded from (recorded in the run row; ``None``
    when the store was not used); ``lines``: what changed, for the night's log;
    ``rebuilt``: the store was built from the sources (none yet, ``--full``, or a changed
    key); ``validated_rows`` and ``reused_rows``: source rows coerced tonight and taken from
    the store.
    """

    generation: str | None
    lines: tuple[str, ...] = ()
    rebuilt: bool = False
    validated_rows: int = 0
    reused_rows: int = 0


def store_key(cfg: DataConfig, mapping=None) -> str:
    """What the stored rows depend on besides the files (16 hex digits): the ``[data]``
    settings that change what a load gives (mappings, header rows, sheets, time zone,
    calendar defaults), the salt's fingerprint (never the salt), the store format and the
    code version. Another key rebuilds the store."""
    from features.identity import salt_fingerprint, salt_from_config
    from features.mapping import mapping_from_config
    from training.bundle import code_version

    mapping = mapping or mapping_from_config(cfg.mappings, cfg.columns, cfg.values)
    fields = asdict(replace(cfg, source="", rejects_file="", id_salt=""))
    for name in ("max_reject_share", "max_staleness_days", "min_rows_share"):
        fields.pop(name, None)  # they judge a load, they do not change the rows
    blob = json.dumps(
        {
            "format": STORE_FORMAT,
            "data": fields,
            "mapping": asdict(mapping),
            "salt": salt_fingerprint(salt_from_config(cfg)),
            "code": code_version(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- fingerprints of raw rows ---------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """A splitmix64 finaliser, vectorised (uint64 in, uint64 out)."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= _MIX
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _column_fingerprint(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = pd.util.hash_array(np.asarray(s.cat.categories.astype("str"), dtype=object))
        codes = s.cat.codes.to_numpy()
        return np.where(codes >= 0, cats[np.maximum(codes, 0)], _NULL)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        v = s.to_numpy().astype("datetime64[ns]").view("int64").astype("uint64")
        return np.where(s.isna().to_numpy(), _NULL, _mix(v))
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        nan = np.isnan(v)
        return np.where(nan, _NULL, _mix(np.where(nan, 0.0, v).view("uint64")))
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    hashed = pd.util.hash_array(np.asarray(uniques, dtype=object).astype(str).astype(object))
    return np.where(codes >= 0, hashed[np.maximum(codes, 0)], _NULL)


def row_fingerprints(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of a raw frame, equal for rows with the same values (vectorised:
    text columns are hashed once per distinct value).

    >>> a = pd.DataFrame({"x": ["a", "b", None], "d": pd.to_datetime(["2024-09-02"] * 3)})
    >>> fp = row_fingerprints(pd.concat([a, a.iloc[[1]]]))
    >>> bool(fp[1] == fp[3]), len(set(fp.tolist()))
    (True, 3)
    """
    out = np.zeros(len(frame), dtype="uint64")
    for c in frame.columns:
        out = _mix(out * _ROW + _column_fingerprint(frame[c]))
    return out


def _checksum(fp: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(fp).tobytes(), digest_size=16).hexdigest()


def _signature(frame: pd.DataFrame) -> str:
    return json.dumps([[str(c), str(frame[c].dtype)] for c in frame.columns])


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the store on disk ----------------------------------------------------------------------------


class ValidatedStore:
    """A folder of Parquet partitions and immutable manifests (see the module docstring).

    ``parts/``: partition files; ``manifests/<generation>.json``: one per night that loaded
    from the store; ``CURRENT``: the generation last published (a hint: the ledger's last
    completed run names the generation a night starts from).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def current(self) -> str | None:
        """The generation last published, or None."""
        try:
            return (self.root / "CURRENT").read_text().strip() or None
        except OSError:
            return None

    def manifest(self, generation: str | None) -> dict | None:
        """The manifest of ``generation``; None when it is missing, unreadable, of another
        format, or names a partition file that is gone (the store was deleted or damaged)."""
        if not generation:
            return None
        try:
            m = json.loads((self.manifests / f"{generation}.json").read_text())
        except (OSError, ValueError):
            return None
        if m.get("format") != STORE_FORMAT:
            return None
        for entry in m.get("sources", {}).values():
            for part in entry["parts"]:
                if not all((self.parts / f).is_file() for f in part["files"].values()):
                    return None
        return m

    def _atomic_write(self, path: Path, write: Callable[[Path], None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def write_frame(self, frame: pd.DataFrame, name: str) -> str:
        """Write ``frame`` as ``parts/<name>.parquet`` (temporary file, then rename)."""
        file = f"{name}.parquet"
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        self._atomic_write(self.parts / file, lambda p: pq.write_table(table, p, compression="zstd"))
        store_step("part")
        return file

    def read_frame(self, file: str) -> pd.DataFrame:
        return pq.read_table(self.parts / file).to_pandas()

    def write_manifest(self, manifest: dict) -> str:
        """Write an immutable manifest; returns its generation (its content hash)."""
        text = json.dumps(manifest, sort_keys=True, indent=1)
        generation = hashlib.sha256(text.encode()).hexdigest()[:16]
        self._atomic_write(self.manifests / f"{generation}.json", lambda p: p.write_text(text))
        store_step("manifest")
        return generation

    def publish(self, generation: str | None, *, keep: tuple[str | None, ...] = ()) -> None:
        """Make ``generation`` the store's current one (``CURRENT``, renamed into place), then
        remove the manifests and partition files that neither it nor ``keep`` use (and
        temporary files left by a killed night)."""
        if not generation:
            return
        self._atomic_write(self.root / "CURRENT", lambda p: p.write_text(generation))
        store_step("current")
        kept = {g for g in (generation, *keep) if g}
        used: set[str] = set()
        for g in kept:
            m = self.manifest(g)
            for entry in (m or {}).get("sources", {}).values():
                for part in entry["parts"]:
                    used.update(part["files"].values())
        for path in self.manifests.glob("*.json"):
            if path.stem not in kept:
                path.unlink(missing_ok=True)
        for path in self.parts.iterdir() if self.parts.is_dir() else ():
            if path.name not in used:
                path.unlink(missing_ok=True)
        for path in self.manifests.glob(".*.tmp"):
            path.unlink(missing_ok=True)


# --- a night's load through the store ----------------------------------------------------------


@dataclass
class _Source:
    """One source file tonight: what is reused and what must be validated."""

    table: str
    path: Path
    entry: dict  # tonight's manifest entry (parts filled in as they are decided)
    reuse: list[dict] = field(default_factory=list)  # parts of the earlier manifest kept
    ranges: list[tuple[int, int]] = field(default_factory=list)  # file rows [start, end) to validate
    note: list[str] = field(default_factory=list)


def _ranges(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into partitions of at most :data:`PART_ROWS` rows (an empty file:
    one empty partition, so that its tables exist)."""
    return [(a, min(a + PART_ROWS, end)) for a in range(start, end, PART_ROWS)] or [(start, end)]


def _plan(src: _Source, old: dict | None, fp: np.ndarray | None) -> None:
    """Decide which partitions of ``old`` stay and which file rows are validated tonight."""
    n = src.entry["rows"]
    if old is None or old.get("columns") != src.entry["columns"]:
        src.ranges = _ranges(0, n)
        if old is not None:
            src.note.append("its columns changed: rebuilt")
        return
    if old.get("whole") or src.entry.get("whole"):  # a roster with derived tables
        src.ranges = [(0, n)]
        src.note.append("changed: rebuilt (one partition: the roster gives derived tables)")
        return
    end = 0
    changed = 0
    for part in old["parts"]:
        a, b = part["start"], part["end"]
        end = max(end, b)
        if b <= n and fp is not None and _checksum(fp[a:b]) == part["checksum"]:
            src.reuse.append(part)
        elif a < n:
            src.ranges.append((a, min(b, n)))
            changed += 1
    if changed:
        src.note.append(f"{changed} earlier partition(s) changed in the file: validated again and rewritten")
    if n < end:
        src.note.append(f"the file shrank from {end:,} to {n:,} rows")
    if n > end:
        src.ranges.append((end, n))
        src.note.append(f"{n - end:,} new rows appended as one partition")


_KINDS = ("rows", "rejects", "sids")


def _restore(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back in the dtypes :func:`~features.load.coerce_table` gives."""
    t = TABLES[table]
    out = {}
    for col in t.columns:
        s = frame[col.name]
        if col.kind == "category":
            want = pd.CategoricalDtype(pd.Index(list(col.values or ()), dtype="str"))
            if s.dtype != want:
                s = pd.Series(pd.Categorical(s.astype("str"), categories=want.categories), index=s.index)
        elif col.name == "student_id" and isinstance(s.dtype, pd.CategoricalDtype):
            pass
        elif str(s.dtype) != col.dtype:
            s = s.astype(col.dtype)
        out[col.name] = s
    out["_file_row"] = frame["_file_row"].astype("int64")
    return pd.DataFrame(out, index=frame.index)


def _concat_rows(table: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    sid = None
    if "student_id" in frames[0].columns:
        parts = [
            f["student_id"]
            if isinstance(f["student_id"].dtype, pd.CategoricalDtype)
            else f["student_id"].astype("category")
            for f in frames
        ]
        sid = pd.api.types.union_categoricals(parts, ignore_order=True)
        frames = [f.drop(columns="student_id") for f in frames]
    out = pd.concat(frames, ignore_index=True)
    if sid is not None:
        out.insert(0, "student_id", pd.Series(sid, index=out.index))
        out = out[[*(c.name for c in TABLES[table].columns), "_file_row"]]
    return out


def load_with_store(
    cfg: DataConfig,
    source: str | Path | None,
    store: ValidatedStore,
    *,
    base: str | None,
    rejects_path: str | Path | None = None,
    full: bool = False,
) -> tuple[LoadResult, StoreNight]:
    """:func:`~features.load.load_tables` through the validated store.

    ``base``: the generation to start from (the ledger's last completed run; None or one
    that is gone: build the store from the sources); ``full``: ignore the store and rebuild
    it (``baoxue nightly --full``). Returns the load (identical to a full load of the same
    sources) and what the store did; the new generation's manifest is written, and made
    current by :meth:`ValidatedStore.publish` once the night is committed.
    """
    from features.load import check_table_names, check_table_set, default_rejects_path
    from features.mapping import mapping_from_config
    from features.time import DefaultCalendar, use_default_calendar

    source = cfg.source if source is None else source
    if is_url(source):
        return load_tables(cfg, source, rejects_path=rejects_path), StoreNight(
            None, ("store: not used for a database source (loaded in full)",)
        )
    files = source_files(source)
    odd = [t for t, p in files.items() if p.suffix.lower() == ".xlsx" or cfg.header_row_of(t) != 1]
    if odd:
        return load_tables(cfg, source, rejects_path=rejects_path), StoreNight(
            None, (f"store: not used: {', '.join(odd)} are workbooks or have title rows (loaded in full)",)
        )
    check_table_set(files)
    check_table_names(cfg)
    use_default_calendar(DefaultCalendar.from_config(cfg))
    mapping = mapping_from_config(cfg.mappings, cfg.columns, cfg.values)
    if rejects_path is None:
        rejects_path = default_rejects_path(cfg, source)
    return _store_load(cfg, files, store, base, full, mapping, rejects_path)


def _store_load(
    cfg: DataConfig,
    files: dict[str, Path],
    store: ValidatedStore,
    base: str | None,
    full: bool,
    mapping,
    rejects_path: str | Path,
) -> tuple[LoadResult, StoreNight]:
    """The body of :func:`load_with_store` (after :func:`~features.load.load_tables`' checks)."""
    from features.identity import needs_hashing, pseudonymize, salt_from_config
    from features.mapping import apply_mapping, split_derived

    key = store_key(cfg, mapping)
    lines: list[str] = []
    old = None if full else store.manifest(base)
    if full:
        lines.append("store: --full: every source validated again, the store rebuilt")
    elif old is None:
        lines.append(
            "store: none yet (or deleted): built from the sources"
            if not base
            else f"store: generation {base} of the last run is gone: rebuilt from the sources"
        )
    elif old["key"] != key:
        lines.append("store: the loading settings, the salt or the code changed: rebuilt from the sources")
        old = None
    context = json.dumps(sorted(files))
    salt = salt_from_config(cfg)
    raws: dict[str, pd.DataFrame] = {}
    fps: dict[str, np.ndarray] = {}

    def raw(table: str) -> pd.DataFrame:
        if table not in raws:
            raws[table] = read_file(table, files[table])
        return raws[table]

    def fingerprints(table: str) -> np.ndarray:
        if table not in fps:
            fps[table] = row_fingerprints(raw(table))
        return fps[table]

    while True:  # at most twice: a changed hashing decision invalidates every stored row
        srcs: dict[str, _Source] = {}
        for table, path in files.items():
            st = path.stat()
            prev = (old or {}).get("sources", {}).get(table)
            same_stat = prev and prev["size"] == st.st_size and prev["mtime_ns"] == st.st_mtime_ns
            sha = prev["sha256"] if same_stat and prev["file"] == path.name else _file_sha256(path)
            entry = {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
            src = _Source(table, path, entry)
            if (
                prev
                and prev["sha256"] == sha
                and prev["file"] == path.name
                and prev.get("context") == context
            ):
                entry.update({k: prev[k] for k in ("rows", "columns", "whole")})
                src.reuse = list(prev["parts"])
            else:
                frame = raw(table)
                entry.update(rows=len(frame), columns=_signature(frame), whole=False)
                _plan(src, prev, fingerprints(table) if prev else None)
            entry["context"] = context
            srcs[table] = src
        # map the rows to validate; a roster that gives derived tables is validated whole
        mapped: dict[str, pd.DataFrame] = {}
        for table, src in srcs.items():
            if not src.ranges:
                continue
            frame = raw(table)
            if table == "students":
                head = apply_mapping(table, frame.iloc[:0], mapping)
                whole = "left_behind.status" in head.columns or (
                    "name" in head.columns and "student_names" not in files
                )
                src.entry["whole"] = whole
                if whole and (src.reuse or src.ranges != [(0, len(frame))]):
                    src.reuse, src.ranges = [], [(0, len(frame))]
                    src.note.append("changed: rebuilt (one partition: the roster gives derived tables)")
            pos = np.concatenate([np.arange(a, b) for a, b in src.ranges])
            mapped[table] = apply_mapping(table, frame.iloc[pos], mapping)
        store_step("planned")
        flags = {t: bool(needs_hashing({t: f})) for t, f in mapped.items()}
        hashed = any(flags.values()) or any(
            part.get("needs_hash") for src in srcs.values() for part in src.reuse
        )
        if old is not None and hashed != old["hashed"]:
            lines.append("store: ids now need hashing (or no longer do): rebuilt from the sources")
            old = None
            continue
        break

    # validate tonight's rows: map, derive, pseudonymise, coerce (row by row)
    present = {t: mapped.get(t, pd.DataFrame()) for t in files}
    frames = pseudonymize(split_derived(present), salt, salt_env=cfg.id_salt_env, hash_all=hashed)
    owner = {t: t for t in mapped}
    for derived in ("left_behind", "student_names"):
        if derived in frames and derived not in files and "students" in mapped:
            owner[derived] = "students"
    fresh: dict[str, dict[str, tuple[pd.DataFrame, pd.DataFrame]]] = {}
    read_rows: dict[str, dict[str, np.ndarray]] = {}
    sids: pd.Series | None = None
    for out_table, src_table in owner.items():
        f = frames[out_table]
        rows = f.index.to_numpy() + 2
        clean, rej = coerce_table(
            out_table,
            f,
            file_rows=rows,
            origin=files[out_table].name if out_table in files else None,
            timezone=cfg.timezone,
        )
        fresh.setdefault(src_table, {})[out_table] = (clean, rej)
        read_rows.setdefault(src_table, {})[out_table] = rows
        if out_table == "students":
            sids = roster_ids(f, rows)
    del frames, present, mapped
    store_step("validated")

    # tonight's partitions: written now, named by the new manifest
    memory: dict[str, pd.DataFrame] = {}

    def put(frame: pd.DataFrame, name: str) -> str:
        file = store.write_frame(frame, name)
        memory[file] = frame
        return file

    validated = reused = 0
    for table, src in srcs.items():
        for a, b in src.ranges:
            lo, hi = a + 2, b + 2
            part = {"start": a, "end": b, "needs_hash": flags.get(table, False), "files": {}, "read": {}}
            part["checksum"] = _checksum(fingerprints(table)[a:b])
            stem = f"{table}-{a}-{b}-{uuid.uuid4().hex[:12]}"
            for out_table, (clean, rej) in fresh[table].items():
                fr = clean["_file_row"]
                part["files"][f"rows:{out_table}"] = put(
                    clean.loc[(fr >= lo) & (fr < hi)], f"{stem}.rows.{out_table}"
                )
                rej_in = rej.loc[(rej["file_row"] >= lo) & (rej["file_row"] < hi)]
                if len(rej_in):
                    part["files"][f"rejects:{out_table}"] = put(rej_in, f"{stem}.rejects.{out_table}")
                r = read_rows[table][out_table]
                part["read"][out_table] = int(((r >= lo) & (r < hi)).sum())
            if table == "students" and sids is not None:
                s_in = sids[(sids.index >= lo) & (sids.index < hi)]
                frame = pd.DataFrame({"file_row": s_in.index.to_numpy(), "student_id": s_in.to_numpy()})
                part["files"]["sids:students"] = put(frame, f"{stem}.sids")
            src.reuse.append(part)
            validated += b - a
        src.entry["parts"] = sorted(src.reuse, key=lambda p: p["start"])
        reused += src.entry["rows"] - sum(b - a for a, b in src.ranges)
    del fresh

    # assemble every table: stored partitions and tonight's rows, in file order
    coerced: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    rows_read: dict[str, int] = {}
    roster_parts: list[pd.Series] = []
    for src in srcs.values():
        outs: dict[str, tuple[list, list]] = {}
        for part in src.entry["parts"]:
            for label, file in part["files"].items():
                kind, _, out_table = label.partition(":")
                f = memory.pop(file) if file in memory else store.read_frame(file)
                if kind == "sids":
                    idx = pd.Index(f["file_row"].to_numpy(), dtype="int64")
                    roster_parts.append(pd.Series(f["student_id"].astype("str").to_numpy(), index=idx))
                    continue
                rows_list, rej_list = outs.setdefault(out_table, ([], []))
                (rows_list if kind == "rows" else rej_list).append(f)
            for out_table, n in part["read"].items():
                rows_read[out_table] = rows_read.get(out_table, 0) + n
        for out_table, (rows_list, rej_list) in outs.items():
            clean = _concat_rows(out_table, [_restore(out_table, f) for f in rows_list])
            rej = pd.concat(rej_list, ignore_index=True) if rej_list else _no_rejects()
            coerced[out_table] = (clean, rej)
    order = [t for t in (*files, "left_behind", "student_names") if t in coerced]
    coerced = {t: coerced[t] for t in dict.fromkeys(order)}
    roster = pd.concat(roster_parts).sort_index() if roster_parts else None
    result = validate_coerced(
        coerced,
        rows_read=rows_read,
        roster=roster,
        max_reject_share=cfg.max_reject_share,
        rejects_path=rejects_path,
    )
    manifest = {
        "format": STORE_FORMAT,
        "key": key,
        "hashed": hashed,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sources": {t: s.entry for t, s in srcs.items()},
    }
    generation = store.write_manifest(manifest)
    for table, src in srcs.items():
        if src.note:
            lines.append(f"store: {table}: " + "; ".join(src.note))
    lines.append(
        f"store: generation {generation}: {validated:,} source rows validated tonight, "
        f"{reused:,} taken from the store"
    )
    for line in lines:
        log.info("%s", line)
    night = StoreNight(
        generation, tuple(lines), rebuilt=old is None, validated_rows=validated, reused_rows=reused
    )
    return result, night


def _no_rejects() -> pd.DataFrame:
    from features.load import REJECT_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "file_row" else "str") for c in REJECT_COLUMNS})
