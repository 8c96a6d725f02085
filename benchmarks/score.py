"""Scoring and explanation speed at 100k and 1M students (issue 5).

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.score --sizes 100000 1000000
    .venv/bin/python -m benchmarks.score --sizes 100000 --shap-all    # also TreeSHAP for everyone

The champion is trained with the default ``[train]`` recipe on a simulated county
(``--train-students``, 3 years). Its feature matrix on a mid-term day is resampled to each
size (rows drawn with replacement, schools and classes multiplied so that a school keeps
about the simulated size): the risk stages cost the same whatever built the features, and
building them is ``benchmarks/features.py``'s job. Each size runs in a fresh process so
that its peak memory (``ru_maxrss``) is its own. Stages:

- probability: :func:`risk.score.score` (LightGBM margin + calibration), and side by side
  the same margins from a treelite + tl2cgen compiled model and ``shap.TreeExplainer``;
- tiers + ranks: :func:`risk.tiers.assign_tiers`, :func:`risk.rank.rank_students`;
- SHAP listed / reasons listed: :func:`risk.explain.contributions` and
  :func:`risk.reasons.explain_reasons` for the students on a list;
- full output = the four stages above (what ``assess`` does after the features and rules).

Prints a markdown table (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from training.evaluate import markdown_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _train(students: int, out: Path) -> dict:
    from features.build import build_features
    from features.config import BaoxueConfig
    from features.load import tables_from_frames
    from features.sim import simulate_county
    from training.bundle import save_bundle
    from training.pipeline import train_tables

    cfg = BaoxueConfig()
    t0 = time.perf_counter()
    county = simulate_county(students=students, years=3, seed=0)
    tables = tables_from_frames(county.frames).tables
    bundle, _ = train_tables(tables, cfg, evaluate_first=False)
    t_train = time.perf_counter() - t0
    last = tables.attendance["date"].max()
    day = dt.date(last.year - 1, 11, 3)  # November of the last simulated school year
    X = build_features(tables, day, cfg)
    X = X.join(tables.students.drop_duplicates("student_id", keep="last").set_index("student_id")[["school_id", "class_id"]].astype("str"))  # fmt: skip
    save_bundle(bundle, out / "bundle.joblib")
    X.to_parquet(out / "base.parquet")
    booster = bundle.model.booster_
    dump = booster.dump_model()
    depth = max(_depth(t["tree_structure"]) for t in dump["tree_info"])
    return {
        "train_s": round(t_train, 1),
        "trees": booster.num_trees(),
        "max_leaves": max(t["num_leaves"] for t in dump["tree_info"]),
        "max_depth": depth,
        "features": len(bundle.features),
        "base_rows": len(X),
        "day": day.isoformat(),
    }


def _depth(node: dict) -> int:
    if "leaf_index" in node or "leaf_value" in node and "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _compile(out: Path) -> Path | None:
    try:
        import tl2cgen
        import treelite
    except ImportError:
        return None
    from training.bundle import load_bundle

    bundle = load_bundle(out / "bundle.joblib")
    model = treelite.frontend.from_lightgbm(bundle.model.booster_)
    lib = out / "model.so"
    tl2cgen.export_lib(model, toolchain="gcc", libpath=str(lib), params={"parallel_comp": 4})
    return lib


def _one(size: int, out: Path, shap_all: bool) -> dict:
    from risk.explain import contributions
    from risk.rank import rank_students, school_capacity, tie_keys
    from risk.reasons import explain_reasons
    from risk.score import design_matrix, raw_margin, score
    from risk.tiers import assign_tiers
    from training.bundle import load_bundle

    bundle = load_bundle(out / "bundle.joblib")
    base = pd.read_parquet(out / "base.parquet")
    rng = np.random.default_rng(size)
    pick = rng.integers(0, len(base), size)
    copies = max(1, size // len(base))
    X = base.iloc[pick].copy()
    tag = (np.arange(size) % copies).astype("str")
    X["school_id"] = X["school_id"].to_numpy() + "-" + tag
    X["class_id"] = X["class_id"].to_numpy() + "-" + tag
    X.index = pd.Index([f"S{i:08d}" for i in range(size)], name="student_id")
    as_of = dt.date(2024, 11, 3)
    row: dict = {"students": size}

    t = time.perf_counter()
    p = score(bundle, X)
    row["probability_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rules = pd.Series("", index=X.index)
    cap = school_capacity(None, X["school_id"].unique())
    tiers = assign_tiers(p, rules, X, school=X["school_id"], capacity=cap, tie=tie_keys(p.index, as_of))
    frame = pd.DataFrame({"probability": p, "school_id": X["school_id"], "class_id": X["class_id"],
                          "tier": tiers["tier"], "rules": rules})  # fmt: skip
    ranks = rank_students(frame, as_of, capacity=cap)
    listed = frame["tier"].isin(["red", "yellow"]).to_numpy() | ranks["selected"].to_numpy()
    row["tiers_ranks_s"] = time.perf_counter() - t
    row["listed"] = int(listed.sum())

    t = time.perf_counter()
    who = X.index[listed]
    contrib = contributions(bundle, X.loc[who])
    row["shap_listed_s"] = time.perf_counter() - t
    t = time.perf_counter()
    explain_reasons(X, contrib)
    row["reasons_listed_s"] = time.perf_counter() - t
    row["full_s"] = (
        row["probability_s"] + row["tiers_ranks_s"] + row["shap_listed_s"] + row["reasons_listed_s"]
    )
    row["peak_gib_full"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    row["score_rows_per_s"] = size / row["probability_s"]
    row["shap_rows_per_s"] = len(who) / row["shap_listed_s"]

    # side by side on the same rows: treelite/tl2cgen compiled margins, shap.TreeExplainer
    lib = out / "model.so"
    if lib.exists():
        import tl2cgen

        predictor = tl2cgen.Predictor(str(lib), nthread=2)
        t = time.perf_counter()
        dm = tl2cgen.DMatrix(design_matrix(bundle, X), dtype="float64")
        margin_c = predictor.predict(dm, pred_margin=True).reshape(-1)
        row["compiled_margin_s"] = time.perf_counter() - t
        t = time.perf_counter()
        margin = raw_margin(bundle, X)
        row["lightgbm_margin_s"] = time.perf_counter() - t
        row["compiled_max_abs_diff"] = float(np.abs(margin_c - margin).max())
    import shap

    sample = X.iloc[: min(size, 20_000)]
    explainer = shap.TreeExplainer(bundle.model)
    t = time.perf_counter()
    sv = explainer.shap_values(bundle._matrix(sample))
    row["shap_pkg_rows_per_s"] = len(sample) / (time.perf_counter() - t)
    sv = sv[1] if isinstance(sv, list) else sv
    native = contributions(bundle, sample)
    row["shap_pkg_max_abs_diff"] = float(np.abs(np.asarray(sv) - native.iloc[:, :-1].to_numpy()).max())

    if shap_all:
        t = time.perf_counter()
        contributions(bundle, X)
        row["shap_all_s"] = time.perf_counter() - t
        row["peak_gib_with_shap_all"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--train-students", type=int, default=5000)
    ap.add_argument("--shap-all", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.work, args.shap_all)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = _train(args.train_students, work)
        print("model:", model)
        lib = _compile(work)
        print("compiled:", lib is not None)
        rows = []
        for n in args.sizes:
            cmd = [sys.executable, "-m", "benchmarks.score", "--one", str(n), "--work", str(work)]
            cmd += ["--shap-all"] if args.shap_all else []
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
        table = pd.DataFrame(rows).set_index("students").T
        print(markdown_table(table.round(3)))


if __name__ == "__main__":
    main()
