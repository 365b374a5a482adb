#!/usr/bin/env bash
# Builds the binaries the demo starts (ionchannel, ion-probe) and the lab,
# then runs `ionchannel-lab demo` on a sandboxed headless sway. Extra
# arguments go to the demo (e.g. --text 'Grüße' or --keep-logs).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins --locked
exec "${CARGO_TARGET_DIR:-target}/debug/ionchannel-lab" demo "$@"
