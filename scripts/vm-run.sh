#!/usr/bin/env bash
# Boots the virtual-machine lab's image (scripts/vm-image.sh) with qemu, runs
# one command in it over SSH, copies its results out and tears everything
# down, even on failure (issue 12).
#
#   scripts/vm-run.sh [options] [--] 'COMMAND'     # COMMAND runs as root
#   scripts/vm-run.sh --smoke                      # the lab's own checks
#
# Options:
#   --out DIR       where results and logs go (default: a new
#                   /tmp/ion-vm-results.XXXXXX, printed at the end)
#   --results PATH  the guest directory copied out after COMMAND
#                   (default /root/results); lands in DIR/results
#   --copy-in PATH  copied (scp -r) into the guest's /root before COMMAND;
#                   repeatable
#   --smoke         COMMAND is the built-in check: uinput, and sway and labwc
#                   on the virtio GPU's DRM backend with seatd as the
#                   unprivileged user `lab` (see smoke_script below)
#
# Each run: a copy-on-write overlay on the cached image (which stays clean),
# a fresh ed25519 client key and a fresh ed25519 host key (ssh-keygen), both
# handed to cloud-init through a NoCloud seed (a small vfat disk labelled
# CIDATA, made with mkfs.vfat and mcopy, no root mounts), user-mode networking
# with SSH forwarded from a free port on 127.0.0.1, the host key pinned in a
# known_hosts of its own (no trust on first use). The serial console goes to
# DIR/serial-N.log (N: boot attempt).
#
# Environment (all optional):
#   ION_VM_IMAGE         image directory (default: built/found by vm-image.sh)
#   ION_VM_ACCEL         tcg | kvm | auto (default auto: KVM only when the host
#                        KVM can boot a stock kernel, i.e. not PVM; else TCG)
#   ION_VM_TCG_THREAD    multi | single (default multi)
#   ION_VM_SMP / ION_VM_MEM   vCPUs (2) / memory in MB (2048)
#   ION_VM_BOOT_TIMEOUT  seconds to wait for SSH per boot (300)
#   ION_VM_BOOT_TRIES    boots to try when the kernel oopses or SSH never
#                        comes (3)
#
# Exit status: COMMAND's; 90 when the VM could not be booted.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
log() { printf 'vm-run: %s\n' "$*" >&2; }

out='' remote_results=/root/results smoke=0
copy_in=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --results) remote_results=$2; shift 2 ;;
    --copy-in) copy_in+=("$2"); shift 2 ;;
    --smoke) smoke=1; shift ;;
    --) shift; break ;;
    -*) log "unknown option $1"; exit 2 ;;
    *) break ;;
  esac
done
if [ "$smoke" -eq 0 ] && [ "$#" -eq 0 ]; then
  log "usage: $0 [--out DIR] [--results PATH] [--copy-in PATH]... (--smoke | COMMAND)"
  exit 2
fi
command_text="$*"

# The lab's own proof: a real kernel with uinput, and both compositors on the
# DRM backend with a real seat (seatd) as an unprivileged user. Writes into
# /root/results; exits non-zero when a check fails.
# shellcheck disable=SC2016 # runs in the guest
smoke_script='set -u
res=/root/results; mkdir -p "$res"; fail=0
say() { echo "smoke: $*"; }
uname -a
ls -l /dev/uinput 2>&1 || true
modprobe uinput && ls -l /dev/uinput || { say "FAIL uinput"; fail=1; }
ls -l /dev/dri/ 2>&1
cat /sys/class/drm/card*/device/uevent 2>/dev/null | grep -i driver || true
# seatd hands the DRM and evdev nodes to members of its group.
seatd -g video -l info >"$res/seatd.log" 2>&1 &
seatd_pid=$!
for _ in $(seq 50); do [ -S /run/seatd.sock ] && break; sleep 0.1; done
rt=/run/user/1000; mkdir -p "$rt"; chown lab:lab "$rt"; chmod 700 "$rt"
: >/tmp/empty.conf; chmod 644 /tmp/empty.conf
# compositor NAME RENDERER: starts it as lab, waits for its Wayland socket,
# lists its globals with wayland-info, stops it.
compositor() {
  local name=$1 renderer=$2 tag=$1-$2 sock= pid t0 t1
  rm -f "$rt"/wayland-*
  t0=$(date +%s%N)
  if [ "$name" = sway ]; then set -- sway -d -c /tmp/empty.conf; else set -- labwc -d; fi
  runuser -u lab -- env -i PATH=/usr/bin:/bin HOME=/home/lab XDG_RUNTIME_DIR="$rt" \
    LIBSEAT_BACKEND=seatd WLR_BACKENDS=drm,libinput WLR_RENDERER="$renderer" \
    WLR_LIBINPUT_NO_DEVICES=1 "$@" >"$res/$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    sock=$(cd "$rt" && ls wayland-? 2>/dev/null | head -n 1)
    [ -n "$sock" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  t1=$(date +%s%N)
  if [ -n "$sock" ]; then
    sleep 1
    runuser -u lab -- env XDG_RUNTIME_DIR="$rt" WAYLAND_DISPLAY="$sock" wayland-info >"$res/$tag.wayland-info" 2>&1 || true
    if kill -0 "$pid" 2>/dev/null; then
      say "OK $tag: socket $sock after $(((t1 - t0) / 1000000)) ms"
    else
      say "FAIL $tag: exited after making its socket"; fail=1
    fi
    grep -c "interface: " "$res/$tag.wayland-info" | sed "s/^/smoke: $tag globals: /"
    grep -q zwp_linux_dmabuf_v1 "$res/$tag.wayland-info" && say "$tag advertises zwp_linux_dmabuf_v1" || say "$tag: no zwp_linux_dmabuf_v1"
    grep -q zwlr_virtual_pointer_manager_v1 "$res/$tag.wayland-info" && say "$tag advertises zwlr_virtual_pointer_manager_v1" || true
  else
    say "FAIL $tag: no Wayland socket"; fail=1
    tail -n 20 "$res/$tag.log"
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  grep -E "loaded libseat session|Initializing DRM backend|Creating pixman renderer|GL renderer:" "$res/$tag.log" | sed "s/^/smoke: $tag log: /" || true
}
compositor sway pixman
compositor sway gles2
compositor labwc pixman
kill "$seatd_pid" 2>/dev/null
say "done, fail=$fail"
exit "$fail"'
if [ "$smoke" -eq 1 ]; then
  command_text=$smoke_script
fi

t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Host tools: qemu (qemu-system-x86), the seed's vfat tools, ssh.
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v mkfs.vfat >/dev/null 2>&1 || need+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || need+=(mtools)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { log "missing ${need[*]}; run scripts/setup.sh"; exit 1; }
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

image=${ION_VM_IMAGE:-}
if [ -z "$image" ]; then
  image=$("$here/vm-image.sh" | tail -n 1)
fi
for f in disk.qcow2 vmlinuz initrd.img; do
  [ -f "$image/$f" ] || { log "no $f in $image; build it with scripts/vm-image.sh"; exit 1; }
done

if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/ion-vm-results.XXXXXX)
else
  mkdir -p "$out"
fi
work=$(mktemp -d /tmp/ion-vm.XXXXXX)
qemu_pid=''

stop_qemu() {
  [ -n "$qemu_pid" ] || return 0
  kill "$qemu_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$qemu_pid" 2>/dev/null || true
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=''
}
# Whatever happens: qemu goes, and with the work directory the overlay, the
# seed and both private keys. Logs stay in $out.
# shellcheck disable=SC2317 # called by the EXIT trap
teardown() {
  stop_qemu
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Acceleration. /dev/kvm on these machines is PVM (kvm_pvm): it runs only
# guest kernels built for it, and a stock Debian kernel does not boot. TCG
# then: slower (boot to SSH about a minute) but any kernel.
accel=${ION_VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; else accel=tcg; fi
fi
case "$accel" in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel "tcg,thread=${ION_VM_TCG_THREAD:-multi}" -cpu max) ;;
  *) log "ION_VM_ACCEL must be tcg, kvm or auto"; exit 2 ;;
esac

# Per-run keys: the client's and the guest's host key. Nothing is reused.
ssh-keygen -q -t ed25519 -N '' -C ion-vm-client -f "$work/id" >/dev/null
ssh-keygen -q -t ed25519 -N '' -C ion-vm-host -f "$work/hostkey" >/dev/null

# The NoCloud seed. ssh_keys installs our host key; ssh_genkeytypes must not
# be [] (cloud-init rejects it), so it names ed25519, which ssh_keys already
# provides (nothing else is generated). Root's key goes in with write_files:
# no default user is created (users: []) and disable_root is off, so nothing
# rewrites it.
instance=ion-$(date +%s)-$$
{
  echo '#cloud-config'
  echo 'users: []'
  echo 'disable_root: false'
  echo 'ssh_pwauth: false'
  echo 'ssh_deletekeys: true'
  echo 'ssh_genkeytypes: [ed25519]'
  echo 'ssh_keys:'
  echo '  ed25519_private: |'
  sed 's/^/    /' "$work/hostkey"
  echo "  ed25519_public: $(cat "$work/hostkey.pub")"
  echo 'write_files:'
  echo '  - path: /root/.ssh/authorized_keys'
  echo "    permissions: '0600'"
  echo "    content: $(cat "$work/id.pub")"
} >"$work/user-data"
printf 'instance-id: %s\nlocal-hostname: ion-vm\n' "$instance" >"$work/meta-data"
mkfs.vfat -n CIDATA -C "$work/seed.img" 1024 >/dev/null
mcopy -i "$work/seed.img" "$work/user-data" "$work/meta-data" ::

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ssh_opts=()
set_ssh_opts() {
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$work/hostkey.pub")" >"$work/known_hosts"
  ssh_opts=(-F /dev/null -i "$work/id" -o IdentitiesOnly=yes -o BatchMode=yes
    -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes
    -o ConnectTimeout=5 -o LogLevel=ERROR -o ServerAliveInterval=15)
}

# boot N: starts qemu on a fresh overlay; returns 0 once SSH answers, 1 when
# this boot failed (oops, panic, qemu died, timeout).
boot() {
  local n=$1 serial="$out/serial-$1.log" deadline t0
  rm -f "$work/overlay.qcow2"
  qemu-img create -q -f qcow2 -F qcow2 -b "$(readlink -f "$image/disk.qcow2")" "$work/overlay.qcow2"
  port=$(free_port)
  set_ssh_opts
  t0=$(date +%s.%N)
  # -nodefaults: no emulated VGA, NIC or CD; what the lab needs is listed.
  # The root disk is virtio (vda), the seed the second virtio disk.
  # virtio-gpu-pci without VGA: the guest's DRM card is virtio_gpu, the
  #   device the compositors' DRM backend is tested on.
  # romfile= on the NIC: no iPXE option ROM needed (direct kernel boot).
  # virtio-rng: the guest's entropy pool fills at once (sshd, cloud-init).
  qemu-system-x86_64 \
    -machine q35 "${accel_args[@]}" \
    -smp "${ION_VM_SMP:-2}" -m "${ION_VM_MEM:-2048}" \
    -nodefaults -display none -vga none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0,115200 panic=-1" \
    -drive "file=$work/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap" \
    -drive "file=$work/seed.img,if=virtio,format=raw,readonly=on" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" \
    -device virtio-net-pci,netdev=n0,romfile= \
    -device virtio-gpu-pci \
    -device virtio-rng-pci \
    -serial "file:$serial" -monitor none \
    -no-reboot \
    >"$out/qemu-$n.log" 2>&1 &
  qemu_pid=$!
  deadline=$(($(date +%s) + ${ION_VM_BOOT_TIMEOUT:-300}))
  while :; do
    # panic=-1 and -no-reboot: a panicking guest ends qemu at once, so a
    # lost boot costs seconds, not the whole timeout.
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
      log "boot $n: qemu exited: $(grep -m1 -E 'Oops: |Kernel panic|BUG: kernel' "$serial" 2>/dev/null || echo "see $out/qemu-$n.log, $serial")"
      wait "$qemu_pid" 2>/dev/null || true
      qemu_pid=''
      return 1
    fi
    # The multi-threaded TCG oops (about 1 boot in 10), or any panic: this
    # boot is lost, try another.
    if grep -qE 'Oops: |Kernel panic|BUG: kernel' "$serial" 2>/dev/null; then
      log "boot $n: kernel failure on the console: $(grep -m1 -E 'Oops: |Kernel panic|BUG: kernel' "$serial")"
      stop_qemu
      return 1
    fi
    if ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 true 2>/dev/null; then
      boot_seconds=$(elapsed "$t0")
      log "boot $n: SSH up after $boot_seconds s ($accel)"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "boot $n: no SSH after ${ION_VM_BOOT_TIMEOUT:-300} s (see $serial)"
      stop_qemu
      return 1
    fi
    sleep 2
  done
}

boot_seconds=''
tries=${ION_VM_BOOT_TRIES:-3}
for n in $(seq "$tries"); do
  boot "$n" && break
done
if [ -z "$boot_seconds" ]; then
  log "could not boot the VM in $tries tries; logs in $out"
  exit 90
fi

for p in "${copy_in[@]}"; do
  scp "${ssh_opts[@]}" -P "$port" -r -q "$p" root@127.0.0.1:/root/
done

t_cmd=$(date +%s.%N)
# The command goes over stdin to the guest's bash: no quoting trouble, and
# its output streams here (and to DIR/command.log). pipefail: the status is
# ssh's, which is the command's.
set +e
printf '%s\n' "$command_text" | ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 bash -s 2>&1 |
  tee "$out/command.log"
status=$?
set -e
command_seconds=$(elapsed "$t_cmd")

mkdir -p "$out/results"
if ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 test -d "$remote_results" 2>/dev/null; then
  scp "${ssh_opts[@]}" -P "$port" -r -q "root@127.0.0.1:$remote_results/." "$out/results/" ||
    log "copying $remote_results out failed"
fi
# The guest's own view of its boot, for the record.
ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 'systemd-analyze 2>&1; systemd-analyze blame 2>&1 | head -n 15' \
  >"$out/systemd-analyze.txt" 2>&1 || true

stop_qemu
total_seconds=$(elapsed "$t_start")
{
  echo "accel=$accel"
  echo "boot_attempts=$n"
  echo "boot_to_ssh_seconds=$boot_seconds"
  echo "command_seconds=$command_seconds"
  echo "command_status=$status"
  echo "total_seconds=$total_seconds"
} | tee "$out/timings" >&2
log "results in $out"
echo "$out"
exit "$status"
