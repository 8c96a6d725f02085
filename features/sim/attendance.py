"""Simulated daily attendance and leave requests, generated in chunks of students.

A school year's :class:`AttendanceSpec` holds the slice of the schedule attendance needs
(enrolment, unexcused runs and their rising-absence precursors, the days out after a dropout
mark, long leaves). Each chunk of students draws from its own random stream
(``[seed, first student]``), so the county can be built in memory
(:func:`attendance_frames`) or streamed to parquet (:func:`write_attendance`) with the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.sim.calendar import SchoolYear
from features.sim.presets import Preset
from features.sim.state import SimState, YearSchedule

__all__ = [
    "STATUS_CODES",
    "AttendanceSpec",
    "attendance_chunk",
    "attendance_frames",
    "iter_attendance",
    "to_arrow",
    "write_attendance",
]

# attendance status codes (order of features.contract attendance.status)
PRESENT, LATE, LEFT_EARLY, LEAVE_SICK, LEAVE_PERSONAL, UNEXCUSED = range(6)
STATUS_CODES = ("present", "late", "left_early", "leave_sick", "leave_personal", "unexcused")


@dataclass(frozen=True)
class AttendanceSpec:
    """One school year's attendance schedule for the students ``idx`` (schedule arrays are
    indexed by position in ``idx``; day values index ``sy.school_days``, -1 = none)."""

    sy: SchoolYear
    idx: np.ndarray  # internal student numbers
    u: np.ndarray  # daily unexcused-absence probability outside runs and precursors
    seed: int
    preset: Preset
    id_prefix: str
    start: np.ndarray
    end: np.ndarray
    run_s: np.ndarray
    run_e: np.ndarray
    ramp_s: np.ndarray
    peak: np.ndarray
    out_from: np.ndarray
    out_to: np.ndarray
    long_leave: np.ndarray

    @classmethod
    def of_year(
        cls, yr: YearSchedule, idx: np.ndarray, u: np.ndarray, seed: int, preset: Preset, id_prefix: str
    ) -> AttendanceSpec:
        """The slice of ``yr``'s schedule for students ``idx``."""
        take = ("start", "end", "run_s", "run_e", "ramp_s", "peak", "out_from", "out_to", "long_leave")
        return cls(sy=yr.sy, idx=idx, u=u, seed=seed, preset=preset, id_prefix=id_prefix,
                   **{name: getattr(yr, name)[idx] for name in take})  # fmt: skip


def attendance_chunk(
    spec: AttendanceSpec, lo: int, hi: int, sid_of: Callable[[np.ndarray], np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily attendance rows and leave requests for students lo..hi of one school year's spec."""
    sy = spec.sy
    rng = np.random.default_rng([spec.seed, lo])
    n = hi - lo
    nd = len(sy.school_days)
    col = np.arange(nd)[None, :]
    sl = slice(lo, hi)
    start, end = spec.start[sl, None], spec.end[sl, None]
    enrolled = (col >= start) & (col < end)
    of, ot = spec.out_from[sl, None], spec.out_to[sl, None]
    gone = (of >= 0) & (col >= of) & ((ot < 0) | (col < ot))
    has_row = enrolled & ~gone
    p = spec.preset
    u = spec.u[sl, None] * np.where(sy.term[None, :] == 1, p.unexcused_spring_factor, 1.0)
    prob = np.broadcast_to(u, (n, nd)).astype(np.float32).copy()
    forced = np.zeros((n, nd), bool)
    for t in (0, 1):
        rs, re_ = spec.run_s[sl, t][:, None], spec.run_e[sl, t][:, None]
        forced |= (rs >= 0) & (col >= rs) & (col < re_)
        ramp = spec.ramp_s[sl, t][:, None]
        in_ramp = (ramp >= 0) & (col >= ramp) & (col < rs)
        frac = (col - ramp + 1) / np.maximum(rs - ramp, 1)
        prob = np.where(in_ramp, np.maximum(prob, spec.peak[sl, t][:, None] * frac), prob)
    r = rng.random((n, nd), dtype=np.float32)
    status = np.full((n, nd), PRESENT, np.int8)
    status[r < p.late_rate + p.left_early_rate] = LEFT_EARLY
    status[r < p.late_rate] = LATE
    # leave spells (sick / personal), 1..5 days, plus rare long ones and one before some dropouts
    start_leave = rng.random((n, nd), dtype=np.float32) < p.leave_start_rate
    length = np.minimum(rng.geometric(1 / p.leave_mean_days, (n, nd)), 5).astype(np.int8)
    long_start = rng.random((n, nd), dtype=np.float32) < p.long_leave_start_rate
    length = np.where(long_start, rng.integers(6, 16, (n, nd)), length).astype(np.int8)
    start_leave |= long_start
    ll = spec.long_leave[sl]
    rows_ll = np.flatnonzero(ll >= 0)
    start_leave[rows_ll, ll[rows_ll]] = True
    length[rows_ll, ll[rows_ll]] = 7
    sick = rng.random((n, nd), dtype=np.float32) < 0.6
    leave_id_num = np.full((n, nd), -1, np.int64)
    si, sj = np.nonzero(start_leave & has_row)
    spell_no = np.arange(len(si))
    L = length[si, sj]
    kind = np.where(sick[si, sj], LEAVE_SICK, LEAVE_PERSONAL).astype(np.int8)
    for k in range(int(L.max()) if len(L) else 0):
        ok = (L > k) & (sj + k < nd)
        ii, jj = si[ok], sj[ok] + k
        free = leave_id_num[ii, jj] < 0
        leave_id_num[ii[free], jj[free]] = spell_no[ok][free]
        status[ii[free], jj[free]] = kind[ok][free]
    unexc = (r < prob) & (leave_id_num < 0)
    status[unexc] = UNEXCUSED
    status[forced] = UNEXCUSED
    leave_id_num[forced] = -1
    ii, jj = np.nonzero(has_row)
    sids = sid_of(spec.idx[sl])
    prefix = f"{spec.id_prefix}L{sy.year}-{lo:07d}-"
    lid = leave_id_num[ii, jj]
    leave_ids = np.where(lid >= 0, np.char.add(prefix, lid.astype(str)), None)
    att = pd.DataFrame(
        {
            "student_id": pd.Categorical.from_codes(ii, categories=pd.Index(sids))
            if n
            else pd.Categorical([]),
            "date": pd.to_datetime(sy.school_days[jj]),
            "session": "day",
            "status": pd.Categorical.from_codes(status[ii, jj], categories=list(STATUS_CODES)),
            "leave_id": leave_ids,
        }
    )
    # leave requests for the spells that produced at least one row
    used = np.unique(lid[lid >= 0])
    end_j = np.minimum(sj + L - 1, nd - 1)
    lr = pd.DataFrame(
        {
            "leave_id": np.char.add(prefix, spell_no.astype(str)),
            "student_id": sids[si],
            "start_date": pd.to_datetime(sy.school_days[sj]),
            "end_date": pd.to_datetime(sy.school_days[end_j]),
            "reason": np.where(kind == LEAVE_SICK, "sick", np.where(L > 5, "family", "personal")),
            "approver_role": np.where(L > 5, "principal", np.where(L > 2, "academic_office", "head_teacher")),
            "approved": True,
            "returned_at": pd.to_datetime(sy.school_days[np.minimum(end_j + 1, nd - 1)]),
        }
    ).iloc[used]
    return att, lr


def iter_attendance(sim: SimState, chunk: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Attendance and leave requests of every school year, ``chunk`` students at a time."""
    for spec in sim.att_specs:
        n = len(spec.idx)
        for lo in range(0, n, chunk):
            yield attendance_chunk(spec, lo, min(lo + chunk, n), sim.sid)


def attendance_frames(sim: SimState, chunk: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole ``attendance`` (student ids categorical over every student) and ``leave_requests``."""
    parts = list(iter_attendance(sim, chunk))
    ids = pd.Index(sim.sid(np.arange(sim.pop.n)))
    att = [a.assign(student_id=a["student_id"].cat.set_categories(ids)) for a, _ in parts]
    return pd.concat(att, ignore_index=True), pd.concat([lr for _, lr in parts], ignore_index=True)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an arrow table, without the index."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def write_attendance(sim: SimState, chunk: int, out: Path) -> tuple[int, int]:
    """Stream ``out/attendance.parquet`` and ``out/leave_requests.parquet`` chunk by chunk;
    returns the rows written to each."""
    ids = pa.array(sim.sid(np.arange(sim.pop.n)))
    writer = lr_writer = None
    n_att = n_lr = 0
    try:
        for att, lr in iter_attendance(sim, chunk):
            codes = att["student_id"].cat.codes.to_numpy()
            local = att["student_id"].cat.categories.to_numpy()
            glob = np.searchsorted(ids.to_numpy(zero_copy_only=False), local)
            dict_arr = pa.DictionaryArray.from_arrays(pa.array(glob[codes].astype(np.int32)), ids)
            table = pa.table(
                {
                    "student_id": dict_arr,
                    "date": pa.array(att["date"].to_numpy().astype("datetime64[s]")),
                    "session": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(att), np.int8)), pa.array(["day"])),
                    "status": pa.DictionaryArray.from_arrays(pa.array(att["status"].cat.codes.to_numpy()), pa.array(list(STATUS_CODES))),
                    "leave_id": pa.array(att["leave_id"], type=pa.string(), from_pandas=True),
                }
            )  # fmt: skip
            if writer is None:
                writer = pq.ParquetWriter(out / "attendance.parquet", table.schema, compression="zstd")
            writer.write_table(table)
            n_att += len(att)
            lrt = to_arrow(lr)
            if lr_writer is None:
                lr_writer = pq.ParquetWriter(out / "leave_requests.parquet", lrt.schema, compression="zstd")
            lr_writer.write_table(lrt.cast(lr_writer.schema))
            n_lr += len(lr)
    finally:
        if writer is not None:
            writer.close()
        if lr_writer is not None:
            lr_writer.close()
    return n_att, n_lr
