"""Python client of the rt-predictor gRPC edge (rtpredictor.v1).

The stubs are generated from the repository's proto/ with grpcio-tools the
first time they are needed, into a cache directory, so the client always
matches the contract it is shipped with::

    from rtp_edge import connect, job
    client = connect("127.0.0.1:50051")
    answer = client.Predict(client.pb.PredictRequest(features=job(
        processors_req=36, nodes_req=1, wallclock_req=4 * 3600, partition="short",
        user="alice")))
    print(answer.p50_seconds, answer.runtime_category, dict(answer.feature_importance))
"""

import importlib
import os
import sys
import tempfile
from pathlib import Path

import grpc

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO = "rtpredictor/v1/predictor.proto"


def generate_stubs(out_dir=None):
    """Compiles the contract with grpcio-tools; returns (messages, services)."""
    from grpc_tools import protoc

    out = Path(out_dir or os.environ.get("RTP_EDGE_STUBS") or tempfile.mkdtemp(prefix="rtp-stubs-"))
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "rtpredictor/v1/predictor_pb2_grpc.py").exists():
        include = Path(protoc.__file__).parent / "_proto"
        code = protoc.main([
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO_ROOT / PROTO),
        ])
        if code != 0:
            raise RuntimeError(f"grpc_tools.protoc failed ({code}) on {PROTO_ROOT / PROTO}")
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    pb = importlib.import_module("rtpredictor.v1.predictor_pb2")
    services = importlib.import_module("rtpredictor.v1.predictor_pb2_grpc")
    return pb, services


class EdgeClient:
    """A JobRuntimePredictor stub with its message module as `pb`."""

    def __init__(self, channel, pb, services):
        self.channel = channel
        self.pb = pb
        self._stub = services.JobRuntimePredictorStub(channel)

    def __getattr__(self, name):
        return getattr(self._stub, name)


def connect(address, ca_pem=None, token=None):
    """A client of the edge at host:port; TLS when `ca_pem` (bytes) is given,
    with `token` sent as a bearer token on every call."""
    pb, services = generate_stubs()
    if ca_pem is None:
        if token is not None:
            raise ValueError("a bearer token needs TLS (pass ca_pem)")
        channel = grpc.insecure_channel(address)
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
        if token is not None:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(token))
        channel = grpc.secure_channel(address, credentials)
    return EdgeClient(channel, pb, services)


def job(**fields):
    """A JobFeatures message (mem_req in GB, wallclock_req in seconds)."""
    pb, _ = generate_stubs()
    return pb.JobFeatures(**fields)
