"""Calls a Flight server that requires TLS and a bearer token, from
pyarrow: refused without the token or with a wrong one, scored with it.
Exits non-zero on the first failed check. Run by the Rust test suite
against a server it starts with a certificate for localhost.

    python clients/python/tests/secure.py --location grpc+tls://localhost:PORT \\
        --ca ca.pem --token TOKEN
"""

import argparse
import os
import sys

import pyarrow.flight as flight

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rtp_client  # noqa: E402
from roundtrip import jobs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--location", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    with open(args.ca, "rb") as f:
        ca = f.read()

    for token in (None, args.token + "x"):
        client = rtp_client.connect(args.location, token=token, tls_root_certs=ca)
        try:
            rtp_client.list_tables(client)
        except flight.FlightUnauthenticatedError as e:
            assert "bearer token" in str(e), e
        else:
            raise AssertionError(f"ListFlights passed with token {token!r}")
        try:
            rtp_client.score(client, jobs(10))
        except flight.FlightUnauthenticatedError:
            pass
        else:
            raise AssertionError(f"DoExchange passed with token {token!r}")

    client = rtp_client.connect(args.location, token=args.token, tls_root_certs=ca)
    scored = rtp_client.score(client, jobs(200))
    assert len(scored) == 200, len(scored)
    assert scored["pred_p50"].notna().all(), scored["error"].unique()
    assert rtp_client.model_info(client)["version"]
    print("all checks passed")


if __name__ == "__main__":
    main()
