#!/usr/bin/env bash
# Builds (once) a bootable Debian testing disk image for the virtual-machine
# lab (issue 12): the desktop stack on a real kernel, so uinput, a compositor
# on the virtio GPU's DRM backend with a real seat, and touch can be tested.
# scripts/vm-run.sh boots it with qemu.
#
#   scripts/vm-image.sh        # prints the image directory (last line)
#
# Made from .debs only, with mmdebstrap (nothing else is downloaded), from the
# Debian archive this host's apt sources already use (read exactly like
# scripts/testing-rootfs.sh does). The directory holds
#   disk.qcow2    the root file system (ext4 on the whole disk, no partition
#                 table, no bootloader: qemu boots the kernel directly)
#   vmlinuz       the guest kernel  } copied out of the tree for qemu's
#   initrd.img    its initramfs     } -kernel / -initrd
#   manifest      what was built (name, suite, date, installed packages)
# under /var/cache/ionchannel/vm/testing-<hash>, where <hash> covers this
# script's text, the suite and the package list, with `current` pointing at
# it. When that directory is complete (manifest present), nothing is rebuilt.
#
# Environment (all optional):
#   ION_VM_CACHE          cache directory        (/var/cache/ionchannel/vm)
#   ION_TESTING_SUITE     suite                  (testing; part of the hash)
#   ION_TESTING_MIRROR    mirror                 (this host's Debian archive)
#   ION_VM_EXTRA_PACKAGES more packages, space separated (part of the hash)
#   ION_VM_KEEP           older images to keep   (2)
#
# Needs root (mmdebstrap's root mode keeps file ownership, which mke2fs -d
# copies into the image). A cold build takes several minutes; see
# docs/vm-lab.md.
set -euo pipefail

CACHE=${ION_VM_CACHE:-/var/cache/ionchannel/vm}
SUITE=${ION_TESTING_SUITE:-testing}

# shellcheck source-path=SCRIPTDIR source=lib/host-mirror.sh
. "$(dirname "$(readlink -f "$0")")/lib/host-mirror.sh"
# shellcheck source-path=SCRIPTDIR source=lib/debian-tree.sh
. "$(dirname "$(readlink -f "$0")")/lib/debian-tree.sh"
MIRROR=${ION_TESTING_MIRROR:-$(host_mirror)}
if [ -z "$MIRROR" ]; then
  echo "vm-image: no Debian archive in this host's apt sources; set ION_TESTING_MIRROR" >&2
  exit 1
fi

# What the image holds. Later steps (ionChannel's own runtime libraries, the
# probe's, test clients) extend this list; every change makes a new image.
PACKAGES=(
  # a bootable system: kernel (+ initramfs-tools, the first alternative apt
  # would pick anyway), systemd as init, udev for /dev and module autoload,
  # kmod for modprobe (uinput is a module in Debian's kernel)
  linux-image-amd64 initramfs-tools systemd-sysv udev kmod
  # provisioning: cloud-init reads the per-run NoCloud seed (host key, root's
  # authorized key); SSH is how vm-run.sh drives the guest
  cloud-init openssh-server
  # networking without cloud-init's renderers (they need netplan or
  # ifupdown): systemd-networkd with DHCP on user-mode networking
  systemd-resolved
  # the desktop stack: a seat, both compositors, the portal frontend,
  # PipeWire and its session manager, a user bus
  seatd sway labwc xdg-desktop-portal pipewire wireplumber dbus-user-session
  # Mesa: llvmpipe behind EGL/GLES2, so wlroots' gles2 renderer can run on
  # the virtio GPU (the dmabuf question of issue 12)
  libegl-mesa0 libgl1-mesa-dri libgles2
  # what the checks use: wayland-info, ps/pgrep, ip, setpriv/runuser
  wayland-utils procps iproute2 util-linux
  # useradd, for the lab user (not Essential any more)
  passwd
  # the testbed's stack (crates/ion-lab, as in testing-rootfs.sh) and the
  # libraries the host-built ionchannel, probe and consent dialog link;
  # libinput-tools to see what libinput makes of ionChannel's uinput devices
  wlr-randr xkb-data pipewire-bin dbus-daemon dbus-bin libglib2.0-bin
  libxkbcommon0 libwayland-client0 libpipewire-0.3-0t64 libgtk-4-1
  libinput-tools
)
# shellcheck disable=SC2206 # word splitting is the point: a space-separated list
EXTRA=(${ION_VM_EXTRA_PACKAGES:-})
PACKAGES+=("${EXTRA[@]}")

log() { printf 'vm-image: %s\n' "$*" >&2; }

self=$(readlink -f "$0")
hash=$(
  {
    cat "$self" "$(dirname "$self")/lib/debian-tree.sh"
    echo "suite=$SUITE"
    printf '%s\n' "${PACKAGES[@]}" | sort -u
  } | sha256sum | cut -c1-12
)
name="testing-$hash"
target="$CACHE/$name"

point_current() {
  ln -sfn "$name" "$CACHE/current.tmp.$$" && mv -T "$CACHE/current.tmp.$$" "$CACHE/current"
}

if [ -f "$target/manifest" ]; then
  [ "$(readlink "$CACHE/current" 2>/dev/null)" = "$name" ] || point_current
  log "up to date: $target"
  echo "$target"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "building the image needs root (mmdebstrap root mode)"
  exit 1
fi

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v mke2fs >/dev/null 2>&1 || need+=(e2fsprogs)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$CACHE"
tmp="$CACHE/.$name.tmp.$$"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
rm -rf "$tmp"
# Leftovers of builds that were killed (their pid is gone).
for stale in "$CACHE"/.testing-*.tmp.*; do
  [ -e "$stale" ] || continue
  kill -0 "${stale##*.}" 2>/dev/null || { log "removing stale $stale"; rm -rf "$stale"; }
done
mkdir -p "$tmp"
tree="$tmp/tree"

# The customize hooks configure the guest, each for the reason above it.
# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, not ours
hooks=(
  'echo ion-vm > "$1/etc/hostname"; printf "127.0.0.1 localhost\n127.0.1.1 ion-vm\n" > "$1/etc/hosts"'
  'printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"'
  # DHCP on whatever NIC qemu gives us (user-mode networking answers it).
  'printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n" > "$1/etc/systemd/network/20-wired.network"'
  'chroot "$1" systemctl enable systemd-networkd.service systemd-resolved.service'
  # cloud-init: only the NoCloud seed (probing cloud metadata services costs
  # minutes of timeouts under TCG), and no network rendering (networkd above
  # does it; cloud-init's renderers want netplan or ifupdown).
  'mkdir -p "$1/etc/cloud/cloud.cfg.d"; printf "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n" > "$1/etc/cloud/cloud.cfg.d/90-ionchannel.cfg"'
  # No baked-in SSH host keys: every run brings its own through the seed
  # (vm-run.sh pins it in known_hosts), so no key is shared by every VM made
  # from this image.
  'rm -f "$1"/etc/ssh/ssh_host_*'
  # Timers that only slow a TCG boot down or write to the disk meanwhile.
  'chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer || true'
  # The unprivileged user the compositors run as (they refuse root); video,
  # render and input give it the DRM and evdev nodes.
  'chroot "$1" useradd --create-home --uid 1000 --shell /bin/bash lab'
  'for g in video render input; do chroot "$1" getent group $g >/dev/null && chroot "$1" usermod -aG $g lab; done; true'
  'chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" > "$1/etc/ionchannel-packages"'
  # Mark /etc and /var up to date with /usr (what systemd-update-done would
  # write): otherwise every boot runs ldconfig.service and friends
  # (ConditionNeedsUpdate), 8 s under TCG, because each run starts from the
  # pristine image again.
  'touch "$1/etc/.updated" "$1/var/.updated"'
)
hook_args=()
for h in "${hooks[@]}"; do hook_args+=(--customize-hook="$h"); done

include=$(IFS=,; echo "${PACKAGES[*]}")
log "building $name ($SUITE) in $tmp"
start=$(date +%s)
# The options are lib/debian-tree.sh's: no Recommends (small, and nothing
# we did not ask for starts at boot), no docs or translations.
mmdebstrap \
  "${DEBIAN_TREE_OPTS[@]}" \
  --include="$include" \
  "${hook_args[@]}" \
  "$SUITE" "$tree" "$MIRROR" >&2
mid=$(date +%s)

# Kernel and initramfs next to the image: qemu boots them with -kernel and
# -initrd, so the image needs neither partition table nor bootloader.
kernel=$(find "$tree/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$tree/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
  log "no kernel or initramfs in $tree/boot"
  exit 1
fi
cp "$kernel" "$tmp/vmlinuz"
cp "$initrd" "$tmp/initrd.img"
kver=${kernel##*/vmlinuz-}

# The disk: the tree plus room for the tests' writes (they go to each run's
# copy-on-write overlay, but the guest sees this file system's free space).
# mke2fs -d copies the tree with ownership and modes, no loop mount needed.
used=$(du -sb "$tree" | cut -f1)
size_mb=$((used * 13 / 10 / 1048576 + 1024))
mke2fs -q -t ext4 -L ion-root -d "$tree" "$tmp/disk.raw" "${size_mb}M" >&2
# qcow2: sparse on any file system and cheap to copy; uncompressed, because
# TCG guests are slow enough without decompressing every read.
qemu-img convert -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"
rm -f "$tmp/disk.raw"
end=$(date +%s)

{
  echo "name=$name"
  echo "suite=$SUITE"
  echo "kernel=$kver"
  echo "built=$(date -u +%FT%TZ)"
  echo "debootstrap_seconds=$((mid - start))"
  echo "build_seconds=$((end - start))"
  echo "disk_size_mb=$size_mb"
  echo "packages:"
  cat "$tree/etc/ionchannel-packages"
} >"$tmp/manifest.tmp"
rm -rf "$tree"
# The manifest is written last: its presence marks a complete image.
mv "$tmp/manifest.tmp" "$tmp/manifest"

if [ -e "$target" ]; then
  log "$target appeared meanwhile; keeping it"
else
  mv -T "$tmp" "$target"
fi
point_current

# Drop older images (each is about a GB), keeping the newest two: other
# checkouts may be booting theirs.
keep=${ION_VM_KEEP:-2}
# shellcheck disable=SC2012
{ ls -1dt "$CACHE"/testing-* 2>/dev/null || true; } | { grep -vxF "$target" || true; } |
  tail -n +"$((keep + 1))" | while read -r old; do
  log "removing old $old"
  rm -rf "$old"
done

log "built in $((end - start)) s (mmdebstrap $((mid - start)) s), kernel $kver, disk $(du -sh "$target/disk.qcow2" | cut -f1) (virtual ${size_mb} MB)"
echo "$target"
