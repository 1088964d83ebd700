"""pyarrow side of `rtp bench flight`: streams ``--rows`` job rows through
DoExchange and prints rows/s. Rows replay the pool file (the client
columns of a job table) with submit times moved forward each cycle, so the
stream is one submission sequence of any length.

    python clients/python/bench_flight.py --location grpc://127.0.0.1:8815 \
        --pool pool.parquet --rows 11000000
"""

import argparse
import itertools
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
import rtp_client  # noqa: E402


def replay(pool: pa.Table, rows: int, batch_rows: int, offset_s: int, span_s: int):
    n = pool.num_rows
    submit = pool.column("submit_time").cast(pa.int64())
    keys = pool.column("job_key")
    done = 0
    while done < rows:
        length = min(batch_rows, rows - done)
        parts = []
        at = done
        while at < done + length:
            cycle, start = divmod(at, n)
            take = min(n - start, done + length - at)
            part = pool.slice(start, take)
            shift = offset_s + cycle * span_s
            part = part.set_column(
                part.schema.get_field_index("submit_time"),
                "submit_time",
                pc.add(submit.slice(start, take), shift).cast(pa.timestamp("s")),
            )
            part = part.set_column(
                part.schema.get_field_index("job_key"),
                "job_key",
                pc.add(keys.slice(start, take), at - start),
            )
            parts.append(part)
            at += take
        yield from pa.concat_tables(parts).combine_chunks().to_batches()
        done += length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--location", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--batch-rows", type=int, default=rtp_client.DEFAULT_BATCH_ROWS)
    parser.add_argument("--offset-s", type=int, default=0)
    parser.add_argument("--span-s", type=int, required=True)
    args = parser.parse_args()
    pool = pq.read_table(args.pool)
    client = rtp_client.connect(args.location)
    started = time.perf_counter()
    scored = 0
    batches = replay(pool, args.rows, args.batch_rows, args.offset_s, args.span_s)
    first = next(batches)
    for batch in rtp_client.exchange(client, first.schema, itertools.chain([first], batches)):
        scored += batch.num_rows
    seconds = time.perf_counter() - started
    if scored != args.rows:
        sys.exit(f"sent {args.rows} rows, got {scored} back")
    print(json.dumps({"rows": scored, "seconds": seconds, "rows_per_s": scored / seconds}))


if __name__ == "__main__":
    main()
