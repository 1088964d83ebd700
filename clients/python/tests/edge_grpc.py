"""The real grpcio client against a running edge: every method, an
invalid request, the standard health service, grpcurl-style reflection
(discover the service and call it with no generated code), and TLS with a
bearer token.

Run by the edge's integration tests, which start the servers:
    edge_grpc.py --address HOST:PORT [--tls-address HOST:PORT --ca CA.pem --token T]
"""

import argparse
import math
import sys
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rtp_edge import connect, job  # noqa: E402

SERVICE = "rtpredictor.v1.JobRuntimePredictor"
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


def sample_job(i=0, **overrides):
    fields = dict(
        processors_req=36 * (1 + i % 4),
        nodes_req=1 + i % 4,
        mem_req=[0.0, 16.0, 96.0][i % 3],
        wallclock_req=[3600.0, 14400.0, 86400.0][i % 3],
        partition=["short", "standard", "long"][i % 3],
        qos="normal",
        submit_time=1_900_000_000 + 60 * i,
        user=f"user{i % 17:04d}",
        account=f"acct{i % 5:02d}",
        job_id=f"py{i}",
    )
    fields.update(overrides)
    return job(**fields)


def five_methods(client):
    pb = client.pb
    answer = client.Predict(pb.PredictRequest(features=sample_job(1), request_id="one"))
    check(answer.request_id == "one", "Predict echoes request_id")
    check(0 < answer.p10_seconds <= answer.p50_seconds <= answer.p90_seconds, "quantiles ordered")
    check(answer.predicted_runtime_seconds == answer.p50_seconds, "field 1 is the p50")
    check(answer.runtime_category in ("short", "medium", "long", "very_long"), "category")
    check(0 < len(answer.feature_importance) <= 5, "top contributions")
    check(answer.suggested_wallclock_seconds <= 14400.0, "suggestion within the request")

    jobs = [sample_job(i) for i in range(10)]
    jobs[3].nodes_req = -1
    batch = client.PredictBatch(pb.PredictBatchRequest(jobs=jobs, batch_id="pyb"))
    check(batch.batch_id == "pyb", "batch id echoed")
    check((batch.total_predictions, batch.failed_predictions) == (9, 1), "batch counts")
    check(batch.errors[0].startswith("jobs[3].nodes_req"), f"batch error names the field: {batch.errors}")
    check([p.job_index for p in batch.predictions] == [0, 1, 2, 4, 5, 6, 7, 8, 9], "job indices")

    requests = [pb.PredictRequest(features=sample_job(i), request_id=f"s{i}") for i in range(6)]
    requests[2].features.wallclock_req = math.nan
    answers = list(client.PredictStream(iter(requests)))
    check(len(answers) == 6, "a stream answers every message")
    check([a.request_id for a in answers] == [f"s{i}" for i in range(6)], "stream order")
    check(answers[2].error.startswith("features.wallclock_req"), f"stream error: {answers[2].error}")
    check(all(a.error == "" and a.p50_seconds > 0 for i, a in enumerate(answers) if i != 2),
          "the other stream messages are predicted")

    info = client.GetModelInfo(pb.GetModelInfoRequest())
    check(info.is_loaded and info.num_features == len(info.feature_names) > 0, "model info")
    check(info.predictions_served >= 6, "predictions counted")
    check(info.ensemble_weights["lightgbm@p50"] == 1.0, "ensemble weights")

    health = client.HealthCheck(pb.HealthCheckRequest())
    check(health.status == pb.HealthCheckResponse.SERVING, "serving")
    check(health.model_status["version"] == info.model_version, "health names the model")

    try:
        client.Predict(pb.PredictRequest(features=sample_job(0, processors_req=0)))
        check(False, "an invalid request is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"INVALID_ARGUMENT, got {e.code()}")
        check(e.details().startswith("features.processors_req"), f"names the field: {e.details()}")


def report_jobs(client):
    """Job events: an ended job and a refused one, then the same again."""
    pb = client.pb
    ended = pb.JobEvent(job=sample_job(40, user="pyevents"), start_time=1_900_002_430,
                        end_time=1_900_003_000, state="COMPLETED")
    bad = pb.JobEvent(job=sample_job(41), start_time=1_900_002_500, end_time=1_900_002_400,
                      state="COMPLETED")
    reply = client.ReportJobs(iter([ended, bad]))
    check((reply.applied, reply.duplicated, reply.refused) == (1, 0, 1), f"event counts {reply}")
    check(reply.errors[0].startswith("events[1]."), f"the refused event is named: {reply.errors}")
    again = client.ReportJobs(iter([ended]))
    check((again.applied, again.duplicated) == (0, 1), f"a repeated event is a duplicate {again}")


def standard_health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    status = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status
    check(status == health_pb2.HealthCheckResponse.SERVING, "grpc.health.v1 says SERVING")


def reflection(channel):
    """What grpcurl does: list services, fetch descriptors, call by name."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = database.get_services()
    check(SERVICE in services, f"reflection lists the service: {services}")
    check("grpc.health.v1.Health" in services, "reflection lists health")
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName(SERVICE)
    methods = sorted(m.name for m in service.methods)
    check(methods == ["GetModelInfo", "HealthCheck", "Predict", "PredictBatch", "PredictStream",
                      "ReportJobs"],
          f"methods {methods}")
    predict = service.methods_by_name["Predict"]
    request_class = message_factory.GetMessageClass(predict.input_type)
    response_class = message_factory.GetMessageClass(predict.output_type)
    request = request_class()
    features = request.features
    features.processors_req = 36
    features.nodes_req = 1
    features.wallclock_req = 7200.0
    features.partition = "short"
    call = channel.unary_unary(
        f"/{SERVICE}/Predict",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    answer = call(request)
    check(answer.p50_seconds > 0 and answer.model_version != "", "a call built from reflection")


def tls_and_token(address, ca, token):
    client = connect(address, ca_pem=ca, token=token)
    answer = client.Predict(client.pb.PredictRequest(features=sample_job(2)))
    check(answer.p50_seconds > 0, "served over TLS with the token")
    wrong = connect(address, ca_pem=ca, token=token + "-wrong")
    try:
        wrong.Predict(wrong.pb.PredictRequest(features=sample_job(2)))
        check(False, "a wrong token is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNAUTHENTICATED, f"UNAUTHENTICATED, got {e.code()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--tls-address")
    parser.add_argument("--ca")
    parser.add_argument("--token")
    args = parser.parse_args()
    client = connect(args.address)
    five_methods(client)
    report_jobs(client)
    standard_health(client.channel)
    reflection(client.channel)
    if args.tls_address:
        tls_and_token(args.tls_address, Path(args.ca).read_bytes(), args.token)
    print(f"all checks passed ({checks})")


if __name__ == "__main__":
    main()
