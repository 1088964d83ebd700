#!/usr/bin/env bash
# Runs the whole test suite: the deployment file checks, then the unit,
# integration, browser and real-data tests (the latter when ../shared/data
# is present).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-tests.sh
set -euo pipefail  # setup-tests.sh leaves the caller's shell lenient
scripts/check-deploy.sh
cargo test --workspace --locked "$@"
