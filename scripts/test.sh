#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, real-data tests when
# ../shared/data is present).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo test --workspace --locked "$@"
