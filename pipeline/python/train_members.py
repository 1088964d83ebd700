"""Trains the XGBoost and CatBoost members of an rt-predictor ensemble.

`rtp train` runs this with the project's own Python environment over the
model matrix it also trains LightGBM on:

    train_members.py --matrix M.parquet --spec spec.json --out DIR

The matrix holds the member inputs (float32; categorical inputs are integer
codes, NaN when missing), `label` (log1p runtime) and `is_valid` (the
temporal validation slice). For each member and quantile this early-stops on
the validation slice, records the train-only predictions on it (for the
blend weights and the interval calibration), refits on all rows for the
chosen rounds if asked, and writes the model as JSON. It also writes the
final models' own predictions for the first `parity_rows` rows, against
which `rtp` checks its native evaluation before it publishes anything.

Outputs in DIR: `<member>_p<NN>.json`, `result.json`,
`validation_predictions.parquet`, `parity_predictions.parquet`.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# CatBoost sees categorical codes as text; a missing code is this text. The
# native engine hashes the same text (rtp-trees, MISSING_CATEGORY_TEXT).
MISSING_CATEGORY = "-1"


def quantile_tag(q):
    return f"p{round(q * 100):02d}"


def load(matrix_path, features):
    table = pq.read_table(matrix_path)
    names = [f["name"] for f in features]
    missing = [n for n in names + ["label", "is_valid"] if n not in table.column_names]
    if missing:
        raise SystemExit(f"{matrix_path}: missing columns {missing}")
    x = np.column_stack(
        [table.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names]
    )
    y = table.column("label").to_numpy().astype(np.float64)
    valid = table.column("is_valid").to_numpy(zero_copy_only=False).astype(bool)
    return x, y, valid


class XgboostMember:
    name = "xgboost"

    def __init__(self, spec, features):
        import xgboost

        self.xgb = xgboost
        self.spec = spec
        self.feature_names = [f["name"] for f in features]
        self.feature_types = ["c" if f["categorical"] else "q" for f in features]

    def version(self):
        return self.xgb.__version__

    def data(self, x, y=None):
        return self.xgb.DMatrix(
            x,
            label=y,
            missing=np.nan,
            feature_names=self.feature_names,
            feature_types=self.feature_types,
            enable_categorical=True,
        )

    def params(self, q):
        params = {
            "objective": "reg:quantileerror",
            "quantile_alpha": q,
            "tree_method": "hist",
            "nthread": self.spec["threads"],
            "seed": self.spec["seed"],
        }
        params.update(self.spec["params"].get(self.name, {}))
        return params

    def fit(self, q, x_fit, y_fit, x_valid, y_valid):
        dfit, dvalid = self.data(x_fit, y_fit), self.data(x_valid, y_valid)
        booster = self.xgb.train(
            self.params(q),
            dfit,
            num_boost_round=self.spec["num_iterations"],
            evals=[(dvalid, "valid")],
            early_stopping_rounds=self.spec["early_stopping_rounds"],
            verbose_eval=False,
        )
        rounds = booster.best_iteration + 1
        pred = booster.predict(dvalid, iteration_range=(0, rounds)).astype(np.float64)
        return booster, rounds, pred

    def refit(self, q, x, y, rounds):
        return self.xgb.train(self.params(q), self.data(x, y), num_boost_round=rounds)

    def predict(self, model, x):
        return model.predict(self.data(x)).astype(np.float64)

    def save(self, model, path):
        model.save_model(str(path))


class CatboostMember:
    name = "catboost"

    def __init__(self, spec, features):
        import catboost
        import pandas

        self.cb = catboost
        self.pd = pandas
        self.spec = spec
        self.names = [f["name"] for f in features]
        self.categorical = [f["name"] for f in features if f["categorical"]]

    def version(self):
        return self.cb.__version__

    def data(self, x, y=None):
        frame = self.pd.DataFrame(x, columns=self.names)
        for name in self.categorical:
            codes = frame[name].to_numpy()
            frame[name] = [
                MISSING_CATEGORY if np.isnan(c) else str(int(c)) for c in codes
            ]
        return self.cb.Pool(frame, label=y, cat_features=self.categorical or None)

    def params(self, q):
        params = {
            "loss_function": f"Quantile:alpha={q}",
            "thread_count": self.spec["threads"],
            "random_seed": self.spec["seed"],
            # every categorical input is one-hot: counter statistics (CTRs)
            # cannot be evaluated outside CatBoost
            "one_hot_max_size": 255,
            "verbose": False,
            "allow_writing_files": False,
        }
        params.update(self.spec["params"].get(self.name, {}))
        return params

    def model(self, q, iterations):
        return self.cb.CatBoostRegressor(iterations=iterations, **self.params(q))

    def fit(self, q, x_fit, y_fit, x_valid, y_valid):
        model = self.model(q, self.spec["num_iterations"])
        valid = self.data(x_valid, y_valid)
        model.fit(
            self.data(x_fit, y_fit),
            eval_set=valid,
            early_stopping_rounds=self.spec["early_stopping_rounds"],
            use_best_model=True,
        )
        rounds = model.get_best_iteration() + 1
        return model, rounds, model.predict(valid).astype(np.float64)

    def refit(self, q, x, y, rounds):
        model = self.model(q, rounds)
        model.fit(self.data(x, y))
        return model

    def predict(self, model, x):
        return model.predict(self.data(x)).astype(np.float64)

    def save(self, model, path):
        model.save_model(str(path), format="json")


MEMBERS = {m.name: m for m in (XgboostMember, CatboostMember)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", required=True, type=Path)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    spec = json.loads(args.spec.read_text())
    unknown = [m for m in spec["members"] if m not in MEMBERS]
    if unknown:
        raise SystemExit(f"unknown members {unknown}; known: {sorted(MEMBERS)}")
    x, y, valid = load(args.matrix, spec["features"])
    if valid.all() or not valid.any():
        raise SystemExit("the matrix needs both training and validation rows")
    args.out.mkdir(parents=True, exist_ok=True)
    parity_rows = min(spec["parity_rows"], len(y))

    result = {"members": {}}
    validation = {}
    parity = {}
    for name in spec["members"]:
        member = MEMBERS[name](spec, spec["features"])
        models = []
        for q in spec["quantiles"]:
            tag = quantile_tag(q)
            model, rounds, valid_pred = member.fit(q, x[~valid], y[~valid], x[valid], y[valid])
            if spec["refit"]:
                model = member.refit(q, x, y, rounds)
            file = f"{name}_{tag}.json"
            member.save(model, args.out / file)
            validation[f"{name}_{tag}"] = valid_pred
            parity[f"{name}_{tag}"] = member.predict(model, x[:parity_rows])
            models.append({"quantile": q, "file": file, "best_iteration": rounds})
            print(f"{name} {tag}: {rounds} rounds", file=sys.stderr, flush=True)
        result["members"][name] = {
            "library_version": member.version(),
            "models": models,
            "params": {k: str(v) for k, v in member.params(0.5).items()},
        }
    pq.write_table(pa.table(validation), args.out / "validation_predictions.parquet")
    pq.write_table(pa.table(parity), args.out / "parity_predictions.parquet")
    (args.out / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
