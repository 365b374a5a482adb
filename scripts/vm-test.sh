#!/usr/bin/env bash
# The uinput end-to-end tests (crates/ion-lab/tests/uinput.rs) in the VM
# lab, where /dev/uinput exists: builds ionChannel and the test here, boots
# a fresh VM (scripts/vm-run.sh), and runs them there with nothing as root
# but the set-up:
#   - /dev/uinput given to the group `input` by a udev rule, as README tells
#     a user to do (a group rather than `uaccess`: there is no logind
#     session in the guest), and the user `lab` in that group;
#   - seatd handing the compositor the kernel's input devices;
#   - the tests run as `lab` (the testbed then runs everything as lab: the
#     compositor, the frontend, ionChannel), each compositor with the lab's
#     headless outputs plus libinput (IONLAB_LIBINPUT=1).
#
#   scripts/vm-test.sh [COMPOSITOR...]      (default: sway labwc)
#
# Results (each compositor's test log and exit status, the device node,
# what libinput saw, seatd's log) land in the directory vm-run.sh prints.
set -euo pipefail
cd "$(dirname "$0")/.."

compositors=${*:-sway labwc}
# Where the dmabuf tests run too (see the guest script).
dmabuf_compositors=${ION_VM_DMABUF:-labwc}
log() { printf 'vm-test: %s\n' "$*" >&2; }

cargo build --workspace --bins --locked
test_binary() {
  local bin
  bin=$(
    cargo test -p ion-lab --test "$1" --no-run --locked --message-format=json 2>/dev/null |
      grep -o "\"executable\":\"[^\"]*$1-[^\"]*\"" | tail -n 1 | cut -d'"' -f4
  )
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    log "could not find the $1 test binary"
    exit 1
  fi
  printf '%s\n' "$bin"
}
test_bin=$(test_binary uinput)
dmabuf_bin=$(test_binary dmabuf)

# shellcheck source-path=SCRIPTDIR source=lib/vm-stage.sh
. scripts/lib/vm-stage.sh
# The layout of target/debug: the test finds the programs beside its deps/.
stage=$(vm_stage debug)
trap 'rm -rf "$stage"' EXIT
cp "$test_bin" "$stage/ion/deps/uinput-test"
cp "$dmabuf_bin" "$stage/ion/deps/dmabuf-test"

# shellcheck disable=SC2016 # runs in the guest
guest='set -u
res=/root/results; mkdir -p "$res"
modprobe uinput
printf "%s\n" "KERNEL==\"uinput\", SUBSYSTEM==\"misc\", GROUP=\"input\", MODE=\"0660\"" \
  >/etc/udev/rules.d/70-ionchannel-uinput.rules
udevadm control --reload
udevadm trigger --sysname-match=uinput
udevadm settle
ls -l /dev/uinput | tee "$res/uinput-node.txt"
usermod -aG input lab
seatd -g video -l info >"$res/seatd.log" 2>&1 &
for _ in $(seq 50); do [ -S /run/seatd.sock ] && break; sleep 0.1; done
# /root is private: the tests and binaries go where lab can read them.
rm -rf /opt/ion; cp -r /root/ion /opt/ion; chmod -R a+rX /opt/ion
status=0
for c in '"$compositors"'; do
  echo "== $c"
  runuser -u lab -- env -i PATH=/usr/bin:/bin HOME=/home/lab LIBSEAT_BACKEND=seatd \
    IONLAB_LIBINPUT=1 IONLAB_COMPOSITOR="$c" ION_BIN_DIR=/opt/ion RUST_BACKTRACE=1 \
    /opt/ion/deps/uinput-test --test-threads=1 --nocapture >"$res/uinput-$c.log" 2>&1
  rc=$?
  echo "$rc" >"$res/uinput-$c.rc"
  grep -E "^test |test result|SKIPPED|arrived at|at close|after SIGKILL" "$res/uinput-$c.log" || true
  [ "$rc" -eq 0 ] || status=$rc
  # dmabuf capture: the compositor renders with GL (llvmpipe), buffers
  # from the primary node of the virtio GPU, where GBM can allocate. labwc
  # only: sway 1.12 on the DRM backend here crashes once a layer-shell
  # client maps (the probe is one; seen with swaybg alone too,
  # docs/research/dmabuf-in-vm.md).
  case " '"$dmabuf_compositors"' " in *" $c "*) ;; *) continue ;; esac
  runuser -u lab -- env -i PATH=/usr/bin:/bin HOME=/home/lab \
    LIBSEAT_BACKEND=seatd IONLAB_RENDER_NODE=/dev/dri/card0 IONLAB_COMPOSITOR="$c" ION_BIN_DIR=/opt/ion RUST_BACKTRACE=1 \
    /opt/ion/deps/dmabuf-test --test-threads=1 --nocapture >"$res/dmabuf-$c.log" 2>&1
  rc=$?
  echo "$rc" >"$res/dmabuf-$c.rc"
  grep -E "^test |test result|SKIPPED|dmabuf" "$res/dmabuf-$c.log" | head -20 || true
  [ "$rc" -eq 0 ] || status=$rc
done
libinput list-devices >"$res/libinput-devices.txt" 2>&1 || true
exit "$status"'

rc=0
scripts/vm-run.sh --copy-in "$stage/ion" -- "$guest" || rc=$?
exit "$rc"
