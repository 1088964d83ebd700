#!/usr/bin/env bash
# The main job on the built-in defaults: generate 100,000 Eagle-shaped jobs,
# ingest them, build the SQL features, evaluate against the baselines, train on
# everything and publish a bundle to out/bundles. Prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
set -euo pipefail  # setup.sh leaves the caller's shell lenient
cargo build --workspace --locked --quiet
"$CARGO_TARGET_DIR/debug/rtp" run "$@"
