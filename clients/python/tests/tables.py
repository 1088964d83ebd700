"""The tables rt-predictor writes, read as a pandas or DuckDB user would.

    tables.py --jobs jobs.parquet --rewrite out.parquet --features f.parquet [--state s.parquet ...]

Checks that the job table's times read as times in pandas and DuckDB, that
the feature and state tables work with pyarrow's plain kernels (filter,
sort, to_pandas) and in DuckDB, and rewrites the job table with pandas (its
own datetime64 columns, integer columns with nulls as floats) to `--rewrite`
for `rtp features` to read back. Prints "all checks passed".
"""

import argparse

import duckdb
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

TIMES = ["submit_time", "start_time", "end_time"]


def one_row(query):
    """The first row of a DuckDB query."""
    return duckdb.sql(query).fetchall()[0]


def check_job_table(path):
    jobs = pd.read_parquet(path)
    for column in TIMES:
        dtype = jobs[column].dtype
        assert pd.api.types.is_datetime64_any_dtype(dtype), f"pandas reads {column} as {dtype}"
    first = jobs["submit_time"].min()
    assert 2000 <= first.year <= 2100, f"submit times start in {first.year}"
    types = one_row(
        f"SELECT typeof(submit_time), typeof(start_time), typeof(end_time) FROM '{path}' LIMIT 1"
    )
    assert all(t.startswith("TIMESTAMP") for t in types), f"DuckDB reads the times as {types}"
    span = one_row(f"SELECT max(end_time) - min(submit_time) FROM '{path}'")[0]
    assert span.total_seconds() > 0, span
    return jobs


def check_plain_kernels(path):
    table = pq.read_table(path)
    for field in table.schema:
        assert "view" not in str(field.type), f"{path}: {field.name} is {field.type}"
    if table.num_rows == 0:
        return
    text = [f.name for f in table.schema if str(f.type) in ("string", "large_string")]
    numbers = [f.name for f in table.schema if str(f.type) in ("double", "int64")]
    if text:
        value = table.column(text[0]).drop_null()[0]
        kept = table.filter(pc.equal(table.column(text[0]), value))
        assert kept.num_rows >= 1
    if numbers:
        ordered = table.sort_by([(numbers[0], "ascending")])
        assert ordered.num_rows == table.num_rows
    frame = table.to_pandas()
    assert len(frame) == table.num_rows
    rows = one_row(f"SELECT count(*) FROM '{path}'")[0]
    assert rows == table.num_rows, (rows, table.num_rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--rewrite", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--state", action="append", default=[])
    args = parser.parse_args()

    jobs = check_job_table(args.jobs)
    # As a user who fixed a column in pandas and saved the table again.
    jobs["partition"] = jobs["partition"].astype("category")
    jobs.to_parquet(args.rewrite, index=False)
    written = pq.read_schema(args.rewrite)
    assert str(written.field("submit_time").type).startswith("timestamp"), written

    for path in [args.features, *args.state]:
        check_plain_kernels(path)
    print("all checks passed")


if __name__ == "__main__":
    main()
