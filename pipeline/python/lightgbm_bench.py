"""Trains rt-predictor's LightGBM member with Python's LightGBM, for `rtp bench train`.

    lightgbm_bench.py --matrix M.parquet --spec spec.json --out DIR

The matrix is the one rtp trained on (float32 inputs, categorical inputs as
integer codes, `label`, `is_valid`); the spec holds rtp's parameters. This
repeats rtp's procedure as a Python user would write it: one binned dataset
for the fit rows (the validation set binned like it) and one for all rows,
then per quantile a model early-stopped on the validation slice, its
predictions there, a refit on all rows for the chosen rounds, its
predictions on the parity rows and its model text.

Writes DIR/result.json (library version, seconds per phase with rtp's phase
names, best iteration per quantile, the memory training added) and
DIR/validation_predictions.parquet (`pNN` columns).
"""

import argparse
import json
import math
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def quantile_tag(q):
    return f"p{round(q * 100):02d}"


def load(matrix_path):
    table = pq.read_table(matrix_path)
    names = [n for n in table.column_names if n not in ("label", "is_valid")]
    # Column-major, as rtp hands its matrix to LightGBM.
    x = np.asfortranarray(
        np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names]),
        dtype=np.float32,
    )
    y = table.column("label").to_numpy().astype(np.float32)
    valid = table.column("is_valid").to_numpy(zero_copy_only=False).astype(bool)
    return x, y, valid


class EarlyStopping:
    """rtp's early stopping as a LightGBM callback: a round improves when it
    takes at least `min_gain` of the best validation loss so far off it (and
    more than rounding); training stops `rounds` rounds after the last
    improvement, whose round count is `best_rounds`."""

    order = 30

    def __init__(self, rounds, min_gain):
        self.rounds = rounds
        self.min_gain = min_gain
        self.best = math.inf
        self.best_rounds = 0

    def __call__(self, env):
        score = env.evaluation_result_list[0][2]
        rounds = env.iteration + 1
        if self.improves(score):
            self.best = score
            self.best_rounds = rounds
        elif rounds - self.best_rounds >= self.rounds:
            raise lgb.callback.EarlyStopException(
                self.best_rounds - 1, env.evaluation_result_list
            )

    def improves(self, score):
        if not math.isfinite(self.best):
            return score < self.best
        return score < self.best - max(self.min_gain * abs(self.best), 1e-12)


def status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    x, y, valid = load(args.matrix)
    load_s = time.perf_counter() - started
    n_fit = int((~valid).sum())
    # Memory training adds: the peak from here on over the resident set now
    # (writing 5 to clear_refs resets the peak), as rtp measures its own.
    rss_before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    params = dict(spec["params"])
    phases = []

    started = time.perf_counter()
    fit_set = lgb.Dataset(x[:n_fit], label=y[:n_fit], params=params, free_raw_data=False).construct()
    valid_x = x[n_fit:]
    valid_set = lgb.Dataset(valid_x, label=y[n_fit:], reference=fit_set, params=params).construct()
    all_set = None
    if spec["refit"]:
        all_set = lgb.Dataset(x, label=y, params=params).construct()
    parity_x = x[: spec["parity_rows"]]
    phases.append(["datasets", time.perf_counter() - started])

    best = {}
    validation = {}
    for q in spec["quantiles"]:
        tag = quantile_tag(q)
        model_params = dict(params, alpha=q)
        started = time.perf_counter()
        stopping = EarlyStopping(
            spec["early_stopping_rounds"], spec["early_stopping_min_gain"]
        )
        booster = lgb.train(
            model_params,
            fit_set,
            num_boost_round=spec["num_iterations"],
            valid_sets=[valid_set],
            callbacks=[stopping],
        )
        best_iteration = max(stopping.best_rounds, 1)
        validation[tag] = booster.predict(valid_x, num_iteration=best_iteration)
        phases.append([f"{tag} fit", time.perf_counter() - started])
        started = time.perf_counter()
        if all_set is not None:
            booster = lgb.train(model_params, all_set, num_boost_round=best_iteration)
        booster.predict(parity_x, num_iteration=best_iteration)
        booster.model_to_string(num_iteration=best_iteration)
        phases.append([f"{tag} refit", time.perf_counter() - started])
        best[tag] = best_iteration

    pq.write_table(
        pa.table({tag: pa.array(v, pa.float64()) for tag, v in validation.items()}),
        out / "validation_predictions.parquet",
    )
    result = {
        "library_version": lgb.__version__,
        "load_s": load_s,
        "phases": phases,
        "best_iterations": best,
        "training_mib": max(status_kib("VmHWM") - rss_before, 0) / 1024.0,
    }
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
