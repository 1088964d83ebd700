"""Drives a running Flight server from pyarrow: DoExchange, DoPut/DoGet,
ListFlights, actions and error cases. Exits non-zero on the first failed
check. Run by the Rust test suite against a server it starts.

    python clients/python/tests/roundtrip.py --location grpc://127.0.0.1:PORT
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rtp_client  # noqa: E402


def jobs(n: int, start: str = "2031-01-05 08:00") -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "job_key": np.arange(n, dtype=np.int64),
            "job_id": [f"j{i}" for i in range(n)],
            "user": [f"user{u:04d}" for u in rng.integers(0, 40, n)],
            "account": [f"acct{a:02d}" for a in rng.integers(0, 10, n)],
            "partition": rng.choice(["short", "standard", "long", "gpu"], n),
            "qos": rng.choice(["normal", "high"], n),
            "submit_time": pd.date_range(start, periods=n, freq="37s"),
            "wallclock_req_s": rng.choice([3600.0, 14400.0, 86400.0], n),
            "nodes_req": rng.integers(1, 4, n).astype(np.int32),
            "processors_req": rng.integers(1, 4, n) * 36,
            "gpus_req": np.zeros(n, dtype=np.int64),
            "mem_req_mb": rng.choice([np.nan, 80000.0], n),
            "name": rng.choice(["sim", "post", "train"], n),
        }
    )


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--location", required=True)
    args = parser.parse_args()
    client = rtp_client.connect(args.location)

    info = rtp_client.model_info(client)
    check(len(info["features"]) > 10 and info["version"], "model-info returns the manifest")

    # DoExchange: several batches, every row back once, in order.
    frame = jobs(5000)
    scored = rtp_client.score(client, frame, batch_rows=1024)
    check(len(scored) == len(frame), "do_exchange returns every row")
    check((scored["job_key"].to_numpy() == frame["job_key"].to_numpy()).all(), "rows keep their order")
    check(list(scored["job_id"][:3]) == ["j0", "j1", "j2"], "job_id is returned")
    for column in ["pred_p10", "pred_p50", "pred_p90", "pred_likely", "suggested_wallclock"]:
        check(scored[column].notna().all() and (scored[column] >= 0).all(), f"{column} is set")
    check(((scored.pred_p10 <= scored.pred_p50) & (scored.pred_p50 <= scored.pred_p90)).all(), "quantiles are ordered")
    check(((scored.pred_p10 <= scored.pred_likely) & (scored.pred_likely <= scored.pred_p90)).all(), "the likely runtime is inside the interval")
    check((scored.suggested_wallclock <= frame.wallclock_req_s).all(), "suggestions never exceed the request")
    check(scored["error"].isna().all(), "no row errors on valid input")
    check((scored.model_version == info["version"]).all(), "model_version names the bundle")
    over = scored.overestimated.to_numpy()
    expected = frame.wallclock_req_s.to_numpy() > info_factor() * scored.pred_p90.to_numpy()
    check((over == expected).all(), "overestimated = request > factor x p90")

    # A bad value fails only its row.
    bad = jobs(10)
    bad.loc[3, "nodes_req"] = -2
    bad.loc[6, "wallclock_req_s"] = np.nan
    # pandas NaN means missing; keep it a real NaN, as a numeric pipeline would send it.
    table = pa.Table.from_pandas(bad, preserve_index=False)
    at = table.schema.get_field_index("wallclock_req_s")
    table = table.set_column(at, "wallclock_req_s", pa.array(bad.wallclock_req_s.to_numpy(), from_pandas=False))
    scored_bad = rtp_client.score(client, table)
    errors = scored_bad["error"]
    check(errors.notna().sum() == 2, "two rows with bad values are marked")
    check("nodes_req" in errors[3] and "wallclock_req_s" in errors[6], "row errors name the field")
    check(scored_bad.pred_p50.notna().sum() == 8, "the other rows are scored")

    # A missing required column fails the request, naming the column.
    try:
        rtp_client.score(client, jobs(10).drop(columns=["nodes_req"]))
        check(False, "a missing column is refused")
    except flight.FlightError as e:  # ArrowInvalid for INVALID_ARGUMENT
        check("nodes_req" in str(e), f"a missing column is refused naming it ({type(e).__name__})")
    except pa.ArrowInvalid as e:
        check("nodes_req" in str(e), "a missing column is refused naming it")

    # A column of the wrong type too.
    wrong = jobs(10)
    wrong["processors_req"] = "many"
    try:
        rtp_client.score(client, wrong)
        check(False, "a wrong type is refused")
    except (flight.FlightError, pa.ArrowInvalid) as e:
        check("processors_req" in str(e), "a wrong type is refused naming the column")

    # The server keeps serving.
    check(len(rtp_client.score(client, jobs(100))) == 100, "the server still serves after bad requests")

    # DoPut + DoGet + ListFlights.
    summary = rtp_client.put_table(client, "march", jobs(3000))
    check(summary["rows"] == 3000 and summary["failed_rows"] == 0, "do_put stores the scored table")
    check(rtp_client.list_tables(client).get("march") == 3000, "list_flights shows the table")
    back = rtp_client.get_table(client, "march")
    check(len(back) == 3000 and back.pred_p50.notna().all(), "do_get returns the scored table")
    # Same rows, same model, same submission sequence: same predictions.
    direct = rtp_client.score(client, jobs(3000))
    check(np.array_equal(back.pred_p50.to_numpy(), direct.pred_p50.to_numpy()), "do_get equals do_exchange")
    rtp_client.drop_table(client, "march")
    check("march" not in rtp_client.list_tables(client), "drop-table removes it")
    try:
        client.get_flight_info(flight.FlightDescriptor.for_path("march"))
        check(False, "a dropped table is not found")
    except KeyError as e:  # pyarrow maps NOT_FOUND to ArrowKeyError
        check("march" in str(e), "a dropped table is not found")
    print("all checks passed")


def info_factor() -> float:
    return float(os.environ.get("RTP_OVERESTIMATE_FACTOR", "2.0"))


if __name__ == "__main__":
    main()
