#!/usr/bin/env bash
# Runs `ionchannel-lab bench …` on the Debian testing stack (the cached
# rootfs, scripts/testing-rootfs.sh) with the compositor of your choice:
#
#   scripts/bench-testing.sh [--compositor sway|labwc] input [ARGS…]
#   scripts/bench-testing.sh [--compositor sway|labwc|cosmic-profile] screencast [--portal wlr] [ARGS…]
#   scripts/bench-testing.sh [--compositor sway|labwc|cosmic-profile] clipboard [--size 50M] [ARGS…]
#
# clipboard needs this stack: the Clipboard portal is in xdg-desktop-portal
# 1.20 and later (testing has 1.22; the host's 1.16 has none).
#
# cosmic-profile is the cosmic-comp stand-in (crates/ion-cosmic-profile):
# ScreenCast only, it has no virtual pointer for the input benchmark.
#
# ARGS go to `ionchannel-lab bench input|screencast|clipboard` unchanged
# (--json, --seconds N, --portal ionchannel|wlr, --size N, …). The stack's programs
# (compositor, wlr-randr, PipeWire, the frontend, xdg-desktop-portal-wlr)
# run inside the rootfs through shims; ionchannel-lab, the probe and the
# consumer run on the host; ionchannel is the host-built binary run inside.
#
# Environment: ION_BENCH_PROFILE (release, the default, or debug): which
# build to run; it is built first (`cargo build --<profile> --bins`).
# CARGO_TARGET_DIR as usual. Needs root (bwrap, the lab user).
set -euo pipefail
cd "$(dirname "$0")/.."

compositor=sway
if [ "${1:-}" = "--compositor" ]; then
  compositor=${2:?--compositor needs sway, labwc or cosmic-profile}
  shift 2
fi
case $compositor in
  sway | labwc | cosmic-profile) ;;
  *) echo "bench-testing: unknown compositor '$compositor' (sway, labwc, cosmic-profile)" >&2; exit 2 ;;
esac
if [ "$compositor" = cosmic-profile ] && [ "${1:-}" = input ]; then
  echo "bench-testing: the cosmic-comp stand-in has no virtual pointer: no input benchmark there" >&2
  exit 2
fi
case ${1:-} in
  input | screencast | clipboard) ;;
  *) echo "usage: $0 [--compositor sway|labwc|cosmic-profile] input|screencast|clipboard [ARGS…]" >&2; exit 2 ;;
esac

profile=${ION_BENCH_PROFILE:-release}
target=${CARGO_TARGET_DIR:-$PWD/target}
case $profile in
  release) cargo build --release --workspace --bins --locked >&2 ;;
  debug) cargo build --workspace --bins --locked >&2 ;;
  *) echo "bench-testing: ION_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
bin_dir=$target/$profile

# The path, not the `current` link, which another checkout may move.
rootfs=$(scripts/testing-rootfs.sh | tail -n 1)
export ION_TESTING_ROOTFS=$rootfs
shims=$(mktemp -d /tmp/ionchannel-bench-shims.XXXXXX)
trap 'rm -rf "$shims"' EXIT
# The compositor runs as the lab user and execs its shim.
chmod 755 "$shims"
ION_BIN_DIR="$bin_dir" scripts/in-testing.sh --shims "$shims" >/dev/null

echo "bench-testing: $compositor on Debian testing ($rootfs), $profile build" >&2
env PATH="$shims:$PATH" ION_BIN_DIR="$bin_dir" \
  IONLAB_PORTAL_BIN="$shims/xdg-desktop-portal" IONCHANNEL_BIN="$shims/ionchannel" \
  IONLAB_STACK=testing IONLAB_COMPOSITOR="$compositor" \
  "$bin_dir/ionchannel-lab" bench "$@"
