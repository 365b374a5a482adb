#!/usr/bin/env bash
# Runs every test: unit and property tests, the in-process D-Bus tests,
# and the end-to-end tests on a headless sway through the real
# xdg-desktop-portal frontend. The end-to-end tests start the binaries
# built here, so build them first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins --locked
# Each end-to-end test brings up its own session; two at a time fit two
# cores.
cargo test --workspace --locked -- --test-threads="${ION_TEST_THREADS:-2}"
