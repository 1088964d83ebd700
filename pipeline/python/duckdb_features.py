"""The feature SQL of sql/ run on DuckDB, a peer engine, for `rtp bench
features`: the same files, in the same order, each materialised table
written to Parquet as DataFusion writes it, and timed.

    duckdb_features.py SQL_DIR JOBS_PARQUET OUT_DIR THREADS

Prints one JSON object per materialised table: {"table", "rows", "seconds"},
then {"peak_rss_mib"} for the whole run.

The dialect shims are all in SHIMS below; nothing else differs.
"""
import glob
import json
import os
import re
import sys
import time

import duckdb

# DuckDB reads the same SQL after these rewrites, each (what, pattern, replacement).
SHIMS = [
    (
        "epoch seconds from a timestamp: DataFusion casts a TIMESTAMP to BIGINT, DuckDB needs epoch()",
        re.compile(r"CAST\((\w+_time) AS BIGINT\)"),
        r"CAST(epoch(\1) AS BIGINT)",
    ),
]

VIEW = re.compile(r"^\s*CREATE\s+VIEW\s", re.MULTILINE | re.IGNORECASE)


def shimmed(text: str) -> str:
    for _, pattern, replacement in SHIMS:
        text = pattern.sub(replacement, text)
    return text


def peak_rss_mib() -> float:
    # VmHWM, not ru_maxrss: the latter keeps the parent's size from before exec.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    sql_dir, jobs, out_dir, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.makedirs(out_dir, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    con.execute(f"CREATE VIEW jobs AS SELECT * FROM read_parquet('{jobs}')")
    paths = sorted(glob.glob(os.path.join(sql_dir, "*.sql")))
    if not paths:
        sys.exit(f"no SQL files in {sql_dir}")
    for path in paths:
        name = os.path.basename(path)
        table = re.sub(r"^\d+_", "", name)[: -len(".sql")]
        text = shimmed(open(path, encoding="utf-8").read())
        if VIEW.search(text):
            con.execute(text)
            continue
        target = os.path.join(out_dir, f"{table}.parquet")
        started = time.perf_counter()
        con.execute(f"COPY ({text}) TO '{target}' (FORMAT parquet)")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{target}')")
        seconds = time.perf_counter() - started
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        print(json.dumps({"table": table, "rows": rows, "seconds": seconds}), flush=True)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}), flush=True)


if __name__ == "__main__":
    main()
