#!/usr/bin/env bash
# Runs every test: unit and property tests, the in-process D-Bus tests,
# and the end-to-end tests through the real xdg-desktop-portal frontend on
# each stack:
#   host      Debian 12: sway 1.7, xdg-desktop-portal 1.16, PipeWire 0.3.65
#   testing   Debian testing from the cached rootfs (scripts/testing-rootfs.sh):
#             sway 1.12, xdg-desktop-portal 1.22, PipeWire 1.6
# IONLAB_STACKS="host" (or "testing") runs one. The end-to-end tests start
# the binaries built here, so build them first.
set -euo pipefail
cd "$(dirname "$0")/.."

stacks=${IONLAB_STACKS:-host testing}
threads=${ION_TEST_THREADS:-2}
target=${CARGO_TARGET_DIR:-$PWD/target}
e2e=(--test remote_desktop --test eis --test screencast --test windows --test demo --test doctor --test testbed --test bench)

cargo build --workspace --bins --locked

failed=()
run_stack() {
  local name=$1
  shift
  echo "==== tests on stack: $name ===="
  if ! "$@"; then
    echo "==== FAILED on stack: $name ====" >&2
    failed+=("$name")
  fi
}

for stack in $stacks; do
  case $stack in
    host)
      # Each end-to-end test brings up its own session; two at a time fit
      # two cores.
      run_stack "host Debian 12 (sway 1.7, xdg-desktop-portal 1.16, PipeWire 0.3.65)" \
        cargo test --workspace --locked --no-fail-fast -- --test-threads="$threads"
      ;;
    testing)
      scripts/testing-rootfs.sh >/dev/null
      shims=$(mktemp -d /tmp/ionchannel-shims.XXXXXX)
      trap 'rm -rf "$shims"' EXIT
      # sway runs as the lab user and execs its shim.
      chmod 755 "$shims"
      ION_BIN_DIR="$target/debug" scripts/in-testing.sh --shims "$shims" >/dev/null
      # The stack's programs (sway, PipeWire, the frontend, gst-launch)
      # come from the rootfs through the shims, and so does the host-built
      # ionchannel's runtime; the probe and the consumer stay on the host.
      run_stack "Debian testing (sway 1.12, xdg-desktop-portal 1.22, PipeWire 1.6)" \
        env PATH="$shims:$PATH" ION_BIN_DIR="$target/debug" \
          IONLAB_PORTAL_BIN="$shims/xdg-desktop-portal" IONCHANNEL_BIN="$shims/ionchannel" \
          IONLAB_STACK=testing \
          cargo test -p ion-lab --locked --no-fail-fast "${e2e[@]}" -- --test-threads="$threads"
      ;;
    *)
      echo "test.sh: unknown stack '$stack' (host, testing)" >&2
      exit 2
      ;;
  esac
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED on: %s\n' "${failed[@]}" >&2
  exit 1
fi
