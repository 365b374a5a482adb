#!/usr/bin/env bash
# Runs every test: unit and property tests, the in-process D-Bus tests,
# and the end-to-end tests through the real xdg-desktop-portal frontend on
# each stack and compositor:
#   host      Debian 12: sway 1.7, xdg-desktop-portal 1.16, PipeWire 0.3.65
#   testing   Debian testing from the cached rootfs (scripts/testing-rootfs.sh),
#             xdg-desktop-portal 1.22, PipeWire 1.6, three times: on sway
#             1.12, on labwc 0.20, and on cosmic-profile, the cosmic-comp
#             STAND-IN built here (crates/ion-cosmic-profile: smithay with
#             cosmic-comp's globals, no virtual pointer) (IONLAB_COMPOSITOR)
#   vm        a Debian testing virtual machine (scripts/vm-test.sh, QEMU under
#             TCG): the uinput tests, which need a real /dev/uinput, a seat
#             and libinput, on sway 1.12 and labwc 0.20, as an unprivileged
#             user
# IONLAB_STACKS="host" (or "testing", "vm") runs one stack; IONLAB_COMPOSITORS
# ("sway labwc cosmic-profile" by default) the testing stack's compositors. A
# failure names the stack and the compositor. The end-to-end tests start the
# binaries built here, so build them first.
set -euo pipefail
cd "$(dirname "$0")/.."

stacks=${IONLAB_STACKS:-host testing vm}
compositors=${IONLAB_COMPOSITORS:-sway labwc cosmic-profile}
threads=${ION_TEST_THREADS:-2}
target=${CARGO_TARGET_DIR:-$PWD/target}
e2e=(--test remote_desktop --test eis --test screencast --test windows --test persistence --test consent_dialog --test libportal --test demo --test doctor --test testbed --test bench --test deskflow --test clipboard --test uinput --test dmabuf --test ashpd --test chromium --test obs --test damage --test soak --test faults --test fuzz_compositor)

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
      # Debian 12 has no labwc: sway only.
      run_stack "host Debian 12, sway 1.7 (xdg-desktop-portal 1.16, PipeWire 0.3.65)" \
        env IONLAB_COMPOSITOR=sway \
          cargo test --workspace --locked --no-fail-fast -- --test-threads="$threads"
      ;;
    testing)
      # The path, not the `current` link: another checkout's run may point
      # `current` at its own tree (another package list) meanwhile.
      rootfs=$(scripts/testing-rootfs.sh | tail -n 1)
      export ION_TESTING_ROOTFS=$rootfs
      shims=$(mktemp -d /tmp/ionchannel-shims.XXXXXX)
      trap 'rm -rf "$shims"' EXIT
      # The compositor runs as the lab user and execs its shim.
      chmod 755 "$shims"
      ION_BIN_DIR="$target/debug" scripts/in-testing.sh --shims "$shims" >/dev/null
      # Versions for the failure line, from the rootfs's package list.
      version() {
        awk -v p="$1" '$1 == p { v = $2; sub(/^[0-9]+:/, "", v); sub(/-[^-]*$/, "", v); sub(/[+~].*$/, "", v); print v }' \
          "$rootfs/etc/ionchannel-packages"
      }
      frontend="xdg-desktop-portal $(version xdg-desktop-portal), PipeWire $(version pipewire-bin)"
      for compositor in $compositors; do
        case $compositor in
          sway | labwc) label="$compositor $(version "$compositor")" ;;
          cosmic-profile)
            # Host-built like ionchannel, run inside the rootfs through its
            # shim (its libraries, e.g. libpixman-1, come from the rootfs,
            # where wlroots needs them too). Named as what it is.
            label="cosmic-profile $("$shims/ion-cosmic-profile" --version | awk '{ print $2; exit }') (the cosmic-comp stand-in)"
            ;;
          *)
            echo "test.sh: unknown compositor '$compositor' (sway, labwc, cosmic-profile)" >&2
            exit 2
            ;;
        esac
        # The stack's programs (compositor, wlr-randr, PipeWire, the
        # frontend, gst-launch) come from the rootfs through the shims, and
        # so does the runtime of the host-built ionchannel, consent dialog
        # (GTK 4 of the rootfs) and cosmic-comp stand-in; the probe, the
        # consumer and the screen readers (grim, tesseract) stay on the host.
        run_stack "Debian testing, $label ($frontend)" \
          env PATH="$shims:$PATH" ION_BIN_DIR="$target/debug" \
            IONLAB_PORTAL_BIN="$shims/xdg-desktop-portal" IONCHANNEL_BIN="$shims/ionchannel" \
            IONCHANNEL_CONSENT_BIN="$shims/ionchannel-consent" \
            ION_COSMIC_PROFILE_BIN="$shims/ion-cosmic-profile" \
            IONLAB_STACK=testing IONLAB_COMPOSITOR="$compositor" \
            cargo test -p ion-lab --locked --no-fail-fast "${e2e[@]}" -- --test-threads="$threads"
      done
      ;;
    vm)
      # The image (mmdebstrap) and the VM need root; the tests inside run
      # as an unprivileged user. Cached under /var/cache/ionchannel/vm.
      if [ "$(id -u)" -ne 0 ]; then
        echo "==== skipped stack: vm (needs root to build and boot the VM image) ===="
      else
        run_stack "VM: Debian testing, sway and labwc on a seat with /dev/uinput (QEMU TCG)" \
          scripts/vm-test.sh
      fi
      ;;
    *)
      echo "test.sh: unknown stack '$stack' (host, testing, vm)" >&2
      exit 2
      ;;
  esac
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED on: %s\n' "${failed[@]}" >&2
  exit 1
fi
