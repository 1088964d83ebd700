"""Score HPC jobs with an rt-predictor Flight server from pandas.

Only ``pyarrow.flight`` is used. A job table is a DataFrame with the
canonical job columns (see the README): ``submit_time``,
``wallclock_req_s``, ``nodes_req`` and ``processors_req`` are required;
``job_key``, ``job_id``, ``user``, ``account``, ``partition``, ``qos``,
``gpus_req``, ``mem_req_mb``, ``name`` and ``work_dir`` are used when
present. Rows are taken as a submission sequence, in order.

    import rtp_client
    client = rtp_client.connect("grpc://127.0.0.1:8815")   # token=..., tls_root_certs=...
    scored = rtp_client.score(client, jobs)          # DoExchange, streamed
    rtp_client.put_table(client, "march", jobs)      # DoPut, stored scored
    march = rtp_client.get_table(client, "march")    # DoGet

With replicas sharing a directory of Parquet job tables
(``scale_out.shared_dir``), one call scores a file on all of them::

    scored = rtp_client.score_shared("grpc://flight-1:8815", "2026-11.parquet")
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight

DEFAULT_BATCH_ROWS = 65_536


class _BearerToken(flight.ClientMiddlewareFactory):
    """Sends ``authorization: Bearer <token>`` with every call."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._headers = {"authorization": f"Bearer {token}"}

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        return _Headers(self._headers)


class _Headers(flight.ClientMiddleware):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self._headers = headers

    def sending_headers(self) -> dict[str, str]:
        return self._headers


def connect(
    location: str = "grpc://127.0.0.1:8815",
    token: str | None = None,
    tls_root_certs: bytes | None = None,
) -> flight.FlightClient:
    """A client of the server at ``location`` (``grpc+tls://`` for TLS, with
    ``tls_root_certs`` the PEM of the CA when not a system root), sending
    ``token`` with every call when the server requires one."""
    options = {}
    if tls_root_certs is not None:
        options["tls_root_certs"] = tls_root_certs
    middleware = [_BearerToken(token)] if token else []
    return flight.FlightClient(location, middleware=middleware, **options)


def _batches(jobs: pd.DataFrame | pa.Table, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    table = jobs if isinstance(jobs, pa.Table) else pa.Table.from_pandas(jobs, preserve_index=False)
    return table.schema, iter(table.to_batches(max_chunksize=batch_rows))


def exchange(
    client: flight.FlightClient,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Streams ``batches`` through DoExchange and yields the scored batches
    as they come back. Writing runs in its own thread so that sending and
    receiving overlap: the server scores batch by batch and holds only a
    few in flight."""
    descriptor = flight.FlightDescriptor.for_command(b"score")
    writer, reader = client.do_exchange(descriptor)
    failure: list[BaseException] = []

    def send() -> None:
        try:
            writer.begin(schema)
            for batch in batches:
                writer.write_batch(batch)
        except BaseException as e:  # reported after the reader finishes
            failure.append(e)
        finally:
            # Always end the client side, so the server ends the stream and
            # the reader below cannot wait forever.
            try:
                writer.done_writing()
            except BaseException as e:
                failure.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            yield chunk.data
    finally:
        sender.join()
        writer.close()
    if failure:
        raise failure[0]


def score(
    client: flight.FlightClient,
    jobs: pd.DataFrame | pa.Table,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> pd.DataFrame:
    """The jobs' keys with ``pred_p10``, ``pred_p50``, ``pred_p90``,
    ``pred_likely`` (the value most likely within 2x of the actual; seconds),
    ``suggested_wallclock``, ``overestimated``, ``model_version`` and
    ``error`` (set on rows that could not be scored)."""
    schema, batches = _batches(jobs, batch_rows)
    scored = list(exchange(client, schema, batches))
    if not scored:
        return pd.DataFrame()
    return pa.Table.from_batches(scored).to_pandas()


def score_shared(location: str, file: str, workers: int | None = None) -> pd.DataFrame:
    """Scores the shared Parquet table ``file`` on every replica at once.

    The server at ``location`` answers GetFlightInfo with one endpoint per
    replica, each with a disjoint range of the file's row groups; the
    endpoints are fetched in parallel, each from its own replica, and
    concatenated in endpoint order (the file's order)."""
    info = connect(location).get_flight_info(flight.FlightDescriptor.for_path("shared", file))

    def fetch(endpoint: flight.FlightEndpoint) -> pa.Table:
        where = endpoint.locations[0] if endpoint.locations else location
        return connect(where).do_get(endpoint.ticket).read_all()

    with ThreadPoolExecutor(max_workers=workers or len(info.endpoints) or 1) as pool:
        parts = list(pool.map(fetch, info.endpoints))
    if not parts:
        return pd.DataFrame()
    return pa.concat_tables(parts).to_pandas()


def put_table(
    client: flight.FlightClient,
    name: str,
    jobs: pd.DataFrame | pa.Table,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> dict:
    """Stores the scored jobs on the server under ``name``; returns the
    server's summary (rows, failed_rows, model_version)."""
    schema, batches = _batches(jobs, batch_rows)
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path(name), schema)
    for batch in batches:
        writer.write_batch(batch)
    writer.done_writing()
    summary = metadata.read()
    writer.close()
    return json.loads(summary.to_pybytes()) if summary is not None else {}


def get_table(client: flight.FlightClient, name: str) -> pd.DataFrame:
    """A table stored with :func:`put_table`, scored."""
    info = client.get_flight_info(flight.FlightDescriptor.for_path(name))
    parts = [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]
    return pa.concat_tables(parts).to_pandas()


def list_tables(client: flight.FlightClient) -> dict[str, int]:
    """Stored tables and their row counts."""
    return {info.descriptor.path[0].decode(): info.total_records for info in client.list_flights()}


def _action(client: flight.FlightClient, kind: str, body: bytes = b"") -> dict:
    results = list(client.do_action(flight.Action(kind, body)))
    return json.loads(results[0].body.to_pybytes())


def model_info(client: flight.FlightClient) -> dict:
    """The serving bundle's manifest."""
    return _action(client, "model-info")


def reload(client: flight.FlightClient) -> dict:
    """Asks the server to load the latest bundle now."""
    return _action(client, "reload")


def drop_table(client: flight.FlightClient, name: str) -> dict:
    """Drops a stored table."""
    return _action(client, "drop-table", name.encode())
