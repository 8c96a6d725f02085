"""Time and peak memory of `baoxue simulate` at several county sizes (3 school years).

Each size runs in a fresh subprocess so peak RSS is that run's own. Prints a table; the
figures go into benchmarks/RESULTS.md by hand with the machine and the command.

    .venv/bin/python benchmarks/simulate.py                 # 10k and 100k
    .venv/bin/python benchmarks/simulate.py 10000 100000 1000000
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from features.sim import simulate_county, write_county
n, out = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
county = simulate_county(students=n, years=3, seed=0, preset="current", attendance=False)
t1 = time.perf_counter()
rows = write_county(county, out)
t2 = time.perf_counter()
print(json.dumps({"students": county.meta["students_total"], "model_s": t1 - t0, "write_s": t2 - t1,
                  "attendance_rows": rows["attendance"], "rows": sum(rows.values()),
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), tmp], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "disk_mib": size}


def main(sizes: list[int]) -> None:
    print(f"{'students':>10} {'enrolled':>10} {'att. rows':>12} {'all rows':>12} {'model s':>8} {'write s':>8} "
          f"{'wall s':>8} {'peak GiB':>9} {'disk MiB':>9}")  # fmt: skip
    for n in sizes:
        r = run(n)
        print(f"{n:>10,} {r['students']:>10,} {r['attendance_rows']:>12,} {r['rows']:>12,} {r['model_s']:>8.1f} "
              f"{r['write_s']:>8.1f} {r['wall_s']:>8.1f} {r['peak_gib']:>9.2f} {r['disk_mib']:>9.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
