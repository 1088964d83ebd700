"""Scores a shared Parquet table across replicas with
``rtp_client.score_shared`` and checks every row came back exactly once,
from more than one replica. Run by the Rust test suite against two servers
it starts.

    python clients/python/tests/scale_out.py --location grpc://127.0.0.1:PORT --file jobs.parquet --rows 3000
"""

import argparse
import os
import sys

import pyarrow.flight as flight

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rtp_client  # noqa: E402


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--location", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()

    info = rtp_client.connect(args.location).get_flight_info(
        flight.FlightDescriptor.for_path("shared", args.file)
    )
    replicas = {e.locations[0].uri for e in info.endpoints}
    check(len(replicas) == len(info.endpoints) >= 2, f"{len(info.endpoints)} endpoints on distinct replicas")
    scored = rtp_client.score_shared(args.location, args.file)
    check(len(scored) == args.rows, f"{len(scored)} rows scored")
    check(scored["job_key"].is_unique, "no row scored twice")
    check(sorted(scored["job_key"]) == list(range(args.rows)), "every row scored")
    check(scored["job_key"].is_monotonic_increasing, "rows come back in file order")
    check(scored["error"].isna().all(), "no row failed")
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
