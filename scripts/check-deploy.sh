#!/usr/bin/env bash
# Checks the deployment files with the real tools: compose.yaml with
# docker-compose's own parser, the Dockerfile with hadolint, the Prometheus
# configuration and alert rules with promtool (including the rules' unit
# tests), every PromQL expression of the Grafana dashboards with promtool,
# and the Kubernetes manifests with kubernetes-validate (strict schemas of the
# Kubernetes version below), their ConfigMap against configs/, and every
# RTP_* variable they set against the services' settings.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-tests.sh
set -euo pipefail  # setup-tests.sh leaves the caller's shell lenient

echo "compose.yaml" >&2
docker-compose -f compose.yaml config -q
docker-compose -f compose.yaml --profile training config -q
docker-compose -f compose.yaml --profile distributed config -q

echo "Dockerfile" >&2
hadolint Dockerfile

echo "Prometheus" >&2
promtool check config configs/prometheus/prometheus.yml
promtool test rules configs/prometheus/alerts_test.yml

echo "Grafana dashboards" >&2
exprs="$(mktemp -d)"
trap 'rm -rf "$exprs"' EXIT
python3 - configs/grafana/dashboards "$exprs/dashboards.rules.yml" <<'PY'
import json, pathlib, sys
source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rules = []
for path in sorted(source.glob("*.json")):
    dashboard = json.loads(path.read_text())
    assert dashboard.get("uid") and dashboard.get("title"), f"{path}: uid and title are required"
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            rules.append((f"{path.name}: {panel['title']} ({target['refId']})", target["expr"]))
# Each expression becomes a recording rule, so promtool parses it.
lines = ["groups:", "  - name: grafana-dashboards", "    rules:"]
for i, (where, expr) in enumerate(rules):
    lines += [f"      # {where}", f"      - record: dashboard_expr_{i}", f"        expr: {json.dumps(expr)}"]
out.write_text("\n".join(lines) + "\n")
print(f"{len(rules)} expressions", file=sys.stderr)
PY
promtool check rules "$exprs/dashboards.rules.yml"

echo "Kubernetes manifests" >&2
K8S_VERSION=1.33.0
manifests=()
for f in deploy/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
kubernetes-validate -k "$K8S_VERSION" --strict --quiet "${manifests[@]}"
python3 scripts/k8s-configmap.py --check
python3 - "${manifests[@]}" <<'PY'
import pathlib, re, sys
known = set()
for config in pathlib.Path(".").glob("*/src/config.rs"):
    known |= set(re.findall(r'"(RTP_[A-Z_]+)"', config.read_text()))
for path in sys.argv[1:]:
    for name in re.findall(r"name: (RTP_[A-Z_]+)", pathlib.Path(path).read_text()):
        if name not in known:
            sys.exit(f"{path}: {name} is not a setting any service reads")
print(f"{len(sys.argv) - 1} manifests", file=sys.stderr)
PY
