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
    "StoreDamaged",
    "ValidatedStore",
    "store_key",
    "store_step",
    "load_with_store",
    "row_hashes",
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


class StoreDamaged(RuntimeError):
    """A file the manifest names cannot be read: the store is rebuilt from the sources."""


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
            "code": _loader_code(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: the modules whose code decides what a load gives: a change to any of them rebuilds the store
_LOADER_MODULES = ("config", "contract", "identity", "load", "mapping", "store", "time")


def _loader_code() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _LOADER_MODULES:
        h.update((here / f"{name}.py").read_bytes())
    for path in sorted((here / "mappings").glob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


# --- fingerprints of raw rows ---------------------------------------------------------------------


def _value_hashes(s: pd.Series) -> np.ndarray:
    """One uint64 per value of a raw column: equal values give equal numbers (text is hashed
    once per distinct value; numbers and dates are their bits)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = pd.util.hash_array(np.asarray(s.cat.categories.astype("str"), dtype=object))
        return np.append(cats, _NULL)[s.cat.codes.to_numpy()]
    values = s.to_numpy() if isinstance(s.dtype, np.dtype) else None
    if values is not None and values.dtype.kind in "mMif":
        return values.view("uint64") if values.dtype.itemsize == 8 else values.astype("int64").view("uint64")
    if values is not None and values.dtype.kind == "b":
        return values.astype("uint64")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    hashed = pd.util.hash_array(np.asarray(uniques, dtype=object).astype(str).astype(object))
    return np.append(hashed, _NULL)[codes]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of a raw frame, equal for rows with equal values (wherever they are
    in the file), different otherwise but for a 2**-64 chance (text is hashed once per distinct
    value).

    >>> f = pd.DataFrame({"x": ["a", "b", None, "b"], "d": pd.to_datetime(["2024-09-02"] * 4)})
    >>> h = row_hashes(f)
    >>> bool(h[1] == h[3]), len(set(h.tolist()))
    (True, 3)
    """
    rows = np.zeros(len(frame), dtype="uint64")
    with np.errstate(over="ignore"):
        for c in frame.columns:
            rows *= _ROW
            rows += _value_hashes(frame[c])
            rows ^= rows >> np.uint64(29)
        return _spread(rows)


def _spread(x: np.ndarray) -> np.ndarray:
    """A splitmix64 finaliser (in place on ``x``, which it returns)."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _MIX
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _family(dtype) -> str:
    """A column's kind as far as the stored rows care: text (str, object or category: hashed
    and coerced by their text alike), else the dtype."""
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or dtype is np.dtype("O")
        or pd.api.types.is_string_dtype(dtype)
    ):
        return "text"
    return str(dtype)


def _signature(frame: pd.DataFrame) -> str:
    """The raw columns and their kinds: another header or kind revalidates the whole file."""
    return json.dumps([[str(c), _family(frame[c].dtype)] for c in frame.columns])


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files_of(entry: dict) -> list[str]:
    """The partition files a manifest's source entry uses."""
    return [entry["keys_file"], *(f for part in entry["parts"] for f in part["files"].values())]


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
            if not all((self.parts / f).is_file() for f in _files_of(entry)):
                return None
        return m

    def _atomic_write(self, path: Path, write: Callable[[Path], None], *, sync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write(tmp)
        if sync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)

    def write_frame(self, frame: pd.DataFrame, name: str) -> str:
        """Write ``frame`` as ``parts/<name>.parquet`` (temporary file, then rename)."""
        file = f"{name}.parquet"
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        # not synced one by one (hundreds of files on a first night): a file a power cut left
        # unreadable makes the store damaged, and a damaged store is rebuilt (load_with_store)
        self._atomic_write(
            self.parts / file, lambda p: pq.write_table(table, p, compression="zstd"), sync=False
        )
        store_step("part")
        return file

    def read_frame(self, file: str) -> pd.DataFrame:
        """A partition file; :class:`StoreDamaged` when it is missing or unreadable."""
        try:
            return pq.read_table(self.parts / file).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise StoreDamaged(f"store file {file} is missing or unreadable ({type(exc).__name__})") from None

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
                used.update(_files_of(entry))
        for path in self.manifests.glob("*.json"):
            if path.stem not in kept:
                path.unlink(missing_ok=True)
        for path in self.parts.iterdir() if self.parts.is_dir() else ():
            if path.name not in used:
                path.unlink(missing_ok=True)
        for path in self.manifests.glob(".*.tmp"):
            path.unlink(missing_ok=True)


# --- a night's load through the store ----------------------------------------------------------


def _partition_keys(table: str, raw: pd.DataFrame, mapping) -> tuple[np.ndarray, list[str]]:
    """Each raw row's partition (an index into the names returned): the month of the table's
    known date (``attendance.date``, ``students.valid_from`` ...) as the file writes it, or
    ``all`` for tables without one and ``other`` for a date that does not parse. Any function of
    a row's values would do: a partition holds whatever rows share it; months keep a new day's
    rows out of the old partitions."""
    n = len(raw)
    known = TABLES[table].known_date
    headers = mapping.headers_for(table)
    col = None
    for c in raw.columns:
        h = str(c).strip().lstrip("\ufeff")
        if known and headers.get(h, h) == known:
            col = c
            break
    if col is None or n == 0:
        return np.zeros(n, dtype="int64"), ["all"]
    s = raw[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniques = s.cat.codes.to_numpy(), pd.Series(s.cat.categories)
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        months = s.to_numpy().astype("datetime64[M]")
        nat = np.isnat(months)
        m = np.where(nat, 0, months.astype("int64"))
        lo = int(m[~nat].min()) if (~nat).any() else 0
        codes = np.where(nat, -1, m - lo)
        uniques = pd.Series(
            (np.arange(int(codes.max(initial=-1)) + 1) + lo).astype("datetime64[M]").astype("datetime64[s]")
        )
    else:
        codes, u = pd.factorize(s, use_na_sentinel=True)
        uniques = pd.Series(u)
    text = uniques.astype("str")
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    label = parsed.dt.strftime("%Y-%m").fillna("other").to_numpy(dtype=object)
    label = np.append(label, "other")  # code -1 (missing)
    names = sorted(set(label[np.unique(codes)].tolist()) if n else {"all"})
    pos = pd.Index(names).get_indexer(label)
    return pos[codes].astype("int64"), names


@dataclass
class _Part:
    """A partition tonight: its rows' positions in the file (file order) and how it is made."""

    key: str
    idx: np.ndarray
    checksum: str = ""
    meta: dict | None = None  # the manifest record (reused, or written tonight)
    old: dict | None = None  # an earlier partition of the same key (rows looked up in it)
    mapped: pd.DataFrame | None = None  # rebuilt: its rows mapped (index = file position)
    match: np.ndarray | None = None  # rebuilt: each row's ordinal in ``old`` (-1: new)
    needs_hash: bool = False


@dataclass
class _Source:
    """One source file tonight."""

    table: str
    path: Path
    entry: dict  # tonight's manifest entry
    parts: list[_Part] = field(default_factory=list)
    read: bool = False  # the file was read tonight
    note: list[str] = field(default_factory=list)


def _groups(codes: np.ndarray, names: list[str], hashes: np.ndarray | None) -> list[_Part]:
    """Partitions from the rows' keys; with ``hashes``, each one's checksum (its rows' hashes
    and their order)."""
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(names))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sums = None
    if hashes is not None and len(order):
        ordinal = np.arange(len(order), dtype="uint64") - np.repeat(starts, counts).astype("uint64")
        mixed = _spread(hashes[order] ^ _spread(ordinal * _ROW))
        with np.errstate(over="ignore"):
            sums = np.add.reduceat(mixed, np.minimum(starts, len(order) - 1), dtype="uint64")
    parts = []
    for j, name in enumerate(names):
        if counts[j] == 0 and len(names) > 1:
            continue
        p = _Part(name, order[starts[j] : starts[j] + counts[j]])
        if hashes is not None:
            total = int(sums[j]) if sums is not None and counts[j] else 0
            p.checksum = hashlib.blake2b(f"{name}|{counts[j]}|{total}".encode(), digest_size=16).hexdigest()
        parts.append(p)
    return parts


def _restore(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back in the dtypes :func:`~features.load.coerce_table` gives."""
    t = TABLES[table]
    out = {}
    for col in t.columns:
        s = frame[col.name]
        if col.kind == "category":
            want = pd.CategoricalDtype(pd.Index(list(col.values or ()), dtype="str"))
            if s.dtype != want and isinstance(s.dtype, pd.CategoricalDtype):
                s = s.cat.set_categories(want.categories)  # through the categories: cheap
                if s.dtype != want:
                    s = s.astype(want)
            elif s.dtype != want:
                s = pd.Series(pd.Categorical(s.astype("str"), categories=want.categories), index=s.index)
        elif col.name == "student_id" and isinstance(s.dtype, pd.CategoricalDtype):
            pass
        elif str(s.dtype) != col.dtype:
            s = s.astype(col.dtype)
        out[col.name] = s
    return pd.DataFrame(out, index=frame.index)


def _union_ids(parts: list[pd.Series]) -> pd.Categorical:
    """The partitions' ``student_id`` columns as one categorical: recoded through their
    categories (mostly the same students in every month), never through the rows' text. The
    categories' order does not matter: the checks re-categorise ids by the roster."""
    parts = [p if isinstance(p.dtype, pd.CategoricalDtype) else p.astype("category") for p in parts]
    cats = pd.Index(parts[0].cat.categories.astype("str"))
    codes = []
    for p in parts:
        mine = p.cat.categories.astype("str")
        at = cats.get_indexer(mine)
        if (at < 0).any():
            cats = cats.append(mine[at < 0])
            at = cats.get_indexer(mine)
        codes.append(np.append(at, -1)[p.cat.codes.to_numpy()])
    return pd.Categorical.from_codes(np.concatenate(codes), categories=cats)


def _in_file_order(table: str, frames: list[pd.DataFrame], rows: list[np.ndarray], n: int) -> pd.DataFrame:
    """The partitions' rows of ``table`` as one frame in file order, with ``_file_row``."""
    frames = [_restore(table, f) for f in frames]
    rows_all = np.concatenate(rows) if rows else np.zeros(0, "int64")
    sid = None
    if frames and "student_id" in frames[0].columns and len(frames) > 1:
        sid = _union_ids([f["student_id"] for f in frames])
        frames = [f.drop(columns="student_id") for f in frames]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    if sid is not None:
        out.insert(0, "student_id", pd.Series(sid, index=out.index))
        out = out[[c.name for c in TABLES[table].columns]]
    # rows are a subset of the file's positions: place them without sorting
    slot = np.full(n + 2, -1, dtype="int64")
    slot[rows_all] = np.arange(len(rows_all))
    order = slot[slot >= 0]
    if not (len(order) and (order == np.arange(len(order))).all()):
        out = out.take(order).reset_index(drop=True)
        rows_all = rows_all[order]
    out["_file_row"] = rows_all
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
    try:
        return _store_load(cfg, files, store, base, full, mapping, rejects_path)
    except StoreDamaged as exc:
        log.warning("store: %s: rebuilt from the sources", exc)
        result, night = _store_load(cfg, files, store, None, True, mapping, rejects_path)
        return result, replace(night, lines=(f"store: {exc}: rebuilt from the sources", *night.lines[1:]))


def _store_load(
    cfg: DataConfig,
    files: dict[str, Path],
    store: ValidatedStore,
    base: str | None,
    full: bool,
    mapping,
    rejects_path: str | Path,
) -> tuple[LoadResult, StoreNight]:
    """The body of :func:`load_with_store`."""
    from features.identity import needs_hashing, pseudonymize, salt_from_config
    from features.mapping import apply_mapping, split_derived

    key = store_key(cfg, mapping)
    lines: list[str] = []
    old = None if full else store.manifest(base)
    if full:
        lines.append("store: --full: every source validated again, the store rebuilt")
    elif old is None:
        lines.append(
            "store: none yet: built from the sources"
            if not base
            else f"store: generation {base} of the last run is gone: rebuilt from the sources"
        )
    elif old["key"] != key:
        lines.append("store: the loading settings, the salt or the code changed: rebuilt from the sources")
        old = None
    rebuilt = old is None
    context = json.dumps(sorted(files))
    raws: dict[str, pd.DataFrame] = {}
    hashes: dict[str, np.ndarray] = {}

    def raw(table: str) -> pd.DataFrame:
        if table not in raws:
            raws[table] = read_file(table, files[table]).reset_index(drop=True)
        return raws[table]

    def row_hash(table: str) -> np.ndarray:
        if table not in hashes:
            hashes[table] = row_hashes(raw(table))
        return hashes[table]

    while True:  # at most twice: a changed hashing decision invalidates every stored row
        srcs: dict[str, _Source] = {}
        for table, path in files.items():
            st = path.stat()
            prev = (old or {}).get("sources", {}).get(table)
            same_stat = (
                prev
                and prev["file"] == path.name
                and (prev["size"], prev["mtime_ns"])
                == (
                    st.st_size,
                    st.st_mtime_ns,
                )
            )
            sha = prev["sha256"] if same_stat else _file_sha256(path)
            entry = {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
            entry["context"] = context
            src = _Source(table, path, entry)
            srcs[table] = src
            if prev and prev["sha256"] == sha and prev["file"] == path.name and prev["context"] == context:
                entry.update({k: prev[k] for k in ("rows", "columns", "whole", "keys", "keys_file")})
                codes = store.read_frame(prev["keys_file"])["part"].to_numpy().astype("int64")
                by_key = {p["key"]: p for p in prev["parts"]}
                for p in _groups(codes, prev["keys"], None):
                    p.meta = by_key[p.key]
                    p.needs_hash = bool(p.meta["needs_hash"])
                    src.parts.append(p)
                continue
            frame = raw(table)
            src.read = True
            entry.update(rows=len(frame), columns=_signature(frame), whole=False)
            whole = False
            if table == "students":
                head = apply_mapping(table, frame.iloc[:0], mapping)
                whole = "left_behind.status" in head.columns or (
                    "name" in head.columns and "student_names" not in files
                )
            entry["whole"] = whole
            if whole:  # the roster gives derived tables: one partition, validated whole
                codes, names = np.zeros(len(frame), "int64"), ["all"]
            else:
                codes, names = _partition_keys(table, frame, mapping)
            entry["keys"] = names
            entry["codes"] = codes
            same_columns = prev is not None and prev["columns"] == entry["columns"] and not whole
            by_key = {p["key"]: p for p in prev["parts"]} if same_columns else {}
            if prev is not None and not same_columns:
                src.note.append("its columns changed (or the roster gives derived tables): validated whole")
            reused = changed = added = 0
            for p in _groups(codes, names, row_hash(table)):
                before = by_key.get(p.key)
                if before is not None and before["checksum"] == p.checksum:
                    p.meta, p.needs_hash = before, bool(before["needs_hash"])
                    reused += 1
                else:
                    p.old = before
                    p.mapped = apply_mapping(table, frame.iloc[p.idx], mapping)
                    p.needs_hash = bool(needs_hashing({table: p.mapped}))
                    changed += before is not None
                    added += before is None
                src.parts.append(p)
            if prev is not None and same_columns:
                gone = len(set(by_key) - {p.key for p in src.parts})
                words = [f"{reused} partition(s) unchanged"]
                if added:
                    words.append(f"{added} new")
                if changed:
                    words.append(
                        f"{changed} changed and rebuilt ({', '.join(p.key for p in src.parts if p.old is not None)})"
                    )
                if gone:
                    words.append(f"{gone} no longer in the file")
                src.note.append(", ".join(words))
        store_step("planned")
        hashed = any(p.needs_hash for src in srcs.values() for p in src.parts)
        if old is not None and hashed != old["hashed"]:
            lines.append("store: ids now need hashing (or no longer do): rebuilt from the sources")
            old, rebuilt = None, True
            continue
        break

    # rows of rebuilt partitions already stored (same values) are taken, the others validated
    memory: dict[str, pd.DataFrame] = {}

    def read(file: str) -> pd.DataFrame:
        return memory[file] if file in memory else store.read_frame(file)

    new_rows: dict[str, list[pd.DataFrame]] = {}
    for table, src in srcs.items():
        for p in src.parts:
            if p.mapped is None:
                continue
            p.match = np.full(len(p.idx), -1, dtype="int64")
            if p.old is not None:
                old_h = read(p.old["files"]["hashes"])["h"].to_numpy()
                uniq, first = np.unique(old_h, return_index=True)
                h = row_hash(table)[p.idx]
                at = np.minimum(np.searchsorted(uniq, h), max(len(uniq) - 1, 0))
                found = (uniq[at] == h) if len(uniq) else np.zeros(len(h), bool)
                p.match = np.where(found, first[at] if len(uniq) else -1, -1)
            todo = p.mapped.loc[p.match < 0] if (p.match >= 0).any() else p.mapped
            if len(todo) or p.old is None:
                new_rows.setdefault(table, []).append(todo)
            p.mapped = pd.DataFrame()  # done with it (a marker: this partition is written tonight)
    mapped = {t: pd.concat(fs) if len(fs) > 1 else fs[0] for t, fs in new_rows.items()}
    validated = sum(len(f) for f in mapped.values())
    del new_rows
    present = {t: mapped.get(t, pd.DataFrame()) for t in files}
    frames = pseudonymize(
        split_derived(present), salt_from_config(cfg), salt_env=cfg.id_salt_env, hash_all=hashed
    )
    owner = {t: t for t in mapped}
    for derived in ("left_behind", "student_names"):
        if derived in frames and derived not in files and "students" in mapped:
            owner[derived] = "students"
    fresh: dict[str, dict[str, tuple[pd.DataFrame, pd.DataFrame, np.ndarray]]] = {}
    fresh_sids: pd.Series | None = None
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
        fresh.setdefault(src_table, {})[out_table] = (clean, rej, rows)
        if out_table == "students":
            fresh_sids = roster_ids(f, rows)
    del frames, present, mapped
    store_step("validated")

    # write the rebuilt and new partitions (ordinal ``_i``: the row's place in its partition)
    def put(frame: pd.DataFrame, name: str) -> str:
        file = store.write_frame(frame, name)
        memory[file] = frame
        return file

    for table, src in srcs.items():
        if not src.read:
            continue
        names = src.entry["keys"]
        codes = src.entry.pop("codes")
        ordinal = np.zeros(len(codes), dtype="int64")
        for p in src.parts:
            ordinal[p.idx] = np.arange(len(p.idx))
        # tonight's validated rows, split by partition
        split: dict[tuple[str, str], dict[int, pd.DataFrame]] = {}
        derived_read: dict[str, np.ndarray] = {}
        pieces_in = [
            (kind, out_table, frame, col)
            for out_table, (clean, rej, _) in fresh.get(table, {}).items()
            for kind, frame, col in (("rows", clean, "_file_row"), ("rejects", rej, "file_row"))
        ]
        if table == "students" and fresh_sids is not None:
            sids_frame = pd.DataFrame(
                {"student_id": fresh_sids.to_numpy(), "file_row": fresh_sids.index.to_numpy()}
            )
            pieces_in.append(("sids", "students", sids_frame, "file_row"))
        for kind, out_table, frame, col in pieces_in:
            pos = frame[col].to_numpy() - 2
            fr = frame.drop(columns=col).assign(_i=ordinal[pos])
            split[(kind, out_table)] = (
                {int(k): g for k, g in fr.groupby(codes[pos], sort=False)} if len(fr) else {}
            )
        for out_table, (_, _, rows) in fresh.get(table, {}).items():
            derived_read[out_table] = np.bincount(codes[rows - 2], minlength=len(names))
        for p in src.parts:
            if p.mapped is None:
                continue
            k = names.index(p.key)
            stem = f"{table}-{p.key}-{uuid.uuid4().hex[:12]}"
            meta = {"key": p.key, "n": len(p.idx), "checksum": p.checksum, "needs_hash": p.needs_hash}
            files_: dict[str, str] = {
                "hashes": put(pd.DataFrame({"h": row_hash(table)[p.idx]}), f"{stem}.hashes")
            }
            kept = np.flatnonzero(p.match >= 0)
            old_files = p.old["files"] if p.old is not None else {}
            labels = {f"{kind}:{o}" for kind, o in split} | {k_ for k_ in old_files if k_ != "hashes"}
            labels |= {f"rows:{o}" for o in fresh.get(table, {})}
            if table == "students":
                labels.add("sids:students")
            for label in sorted(labels):
                kind, _, out_table = label.partition(":")
                pieces = []
                if len(kept) and label in old_files:  # rows with the same values, stored before
                    pairs = pd.DataFrame({"_old": p.match[kept], "_i": kept})
                    prev_f = read(old_files[label]).rename(columns={"_i": "_old"})
                    pieces.append(prev_f.merge(pairs, on="_old", how="inner").drop(columns="_old"))
                piece = split.get((kind, out_table), {}).get(k)
                if piece is not None:
                    pieces.append(piece)
                if not pieces:
                    if kind != "rows":
                        continue
                    pieces = [
                        fresh[table][out_table][0].iloc[:0].drop(columns="_file_row").assign(_i=np.int64(0))
                    ]
                if len(pieces) > 1 and "student_id" in pieces[0].columns:
                    pieces = [x.assign(student_id=x["student_id"].astype("str")) for x in pieces]
                frame = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
                frame = frame.sort_values("_i", kind="stable").reset_index(drop=True)
                if len(frame) or kind == "rows":
                    files_[label] = put(frame, f"{stem}.{kind}.{out_table}")
            read_n = {table: len(p.idx)}
            for out_table, counts in derived_read.items():
                if out_table != table:  # derived rows: only from a whole roster (never looked up)
                    read_n[out_table] = int(counts[k])
            meta["files"], meta["read"] = files_, read_n
            p.meta = meta
        keys_frame = pd.DataFrame({"part": codes.astype("int32")})
        src.entry["keys_file"] = put(keys_frame, f"{table}-keys-{uuid.uuid4().hex[:12]}")
    for src in srcs.values():
        src.entry["parts"] = [p.meta for p in src.parts]
    del fresh

    # assemble every table from its partitions, in file order
    outs_all: dict[str, tuple[list, list, list, list]] = {}
    rows_read: dict[str, int] = {}
    roster_parts: list[pd.Series] = []
    n_rows = {}
    for src in srcs.values():
        for p in src.parts:
            rows_of = p.idx + 2
            for label, file in p.meta["files"].items():
                kind, _, out_table = label.partition(":")
                if kind == "hashes":
                    continue
                f = read(file)
                at = rows_of[f["_i"].to_numpy()]
                if kind == "sids":
                    roster_parts.append(
                        pd.Series(f["student_id"].astype("str").to_numpy(), index=pd.Index(at, dtype="int64"))
                    )
                    continue
                acc = outs_all.setdefault(out_table, ([], [], [], []))
                if kind == "rows":
                    acc[0].append(f.drop(columns="_i"))
                    acc[1].append(at)
                else:
                    acc[2].append(f.drop(columns="_i").assign(file_row=at)[list(_no_rejects().columns)])
            for out_table, n in p.meta["read"].items():
                rows_read[out_table] = rows_read.get(out_table, 0) + n
                n_rows[out_table] = src.entry["rows"]  # derived tables: the roster's rows
    coerced: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for out_table in dict.fromkeys([*files, "left_behind", "student_names"]):
        if out_table not in outs_all:
            continue
        rows_f, at, rej_f, _ = outs_all[out_table]
        clean = _in_file_order(out_table, rows_f, at, n_rows.get(out_table, 0))
        rej = pd.concat(rej_f, ignore_index=True) if rej_f else _no_rejects()
        coerced[out_table] = (clean, rej)
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
    if not rebuilt:
        for table, src in srcs.items():
            if src.note:
                lines.append(f"store: {table}: " + "; ".join(src.note))
    total = sum(s.entry["rows"] for s in srcs.values())
    lines.append(
        f"store: generation {generation}: {validated:,} of {total:,} source rows validated tonight, "
        f"the others taken from the store"
    )
    for line in lines:
        log.info("%s", line)
    return result, StoreNight(generation, tuple(lines), rebuilt, validated, total - validated)


def _no_rejects() -> pd.DataFrame:
    from features.load import REJECT_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "file_row" else "str") for c in REJECT_COLUMNS})
