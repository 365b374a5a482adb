#!/usr/bin/env bash
# Installs what ionChannel's build, demo and tests need on Debian 12 /
# Ubuntu, idempotently. Run as root (or it re-runs itself with sudo).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  exec sudo --preserve-env=PATH "$0" "$@"
fi

# The host stack: the compositor, the portal frontend, PipeWire, the
# consumers the tests use, and the headers the Rust crates build against.
PACKAGES=(
  sway xkb-data
  xdg-desktop-portal
  pipewire pipewire-bin wireplumber
  dbus dbus-bin dbus-daemon
  gstreamer1.0-tools gstreamer1.0-pipewire gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libpipewire-0.3-dev libspa-0.2-dev clang libclang-dev pkg-config
  libxkbcommon-dev
  # dmabuf capture allocates with GBM (the compositor's GPU).
  libgbm-dev
  # The cosmic-comp stand-in (crates/ion-cosmic-profile) renders with
  # smithay's pixman renderer, which links libpixman-1.
  libpixman-1-dev
  # The consent dialog (GTK 4), and what its end-to-end test reads the
  # screen with: grim (screenshots), tesseract (OCR), a font.
  libgtk-4-dev fonts-dejavu-core grim tesseract-ocr tesseract-ocr-eng
  util-linux procps ca-certificates
  # The local side of clipboard tests: wl-copy and wl-paste (host
  # programs on every stack, like grim; they speak wlr-data-control).
  wl-clipboard
  # A third-party portal client: libportal, driven from Python GI by
  # crates/ion-lab/scripts/libportal-client.py (tests/libportal.rs).
  python3-gi gir1.2-xdp-1.0
  # The second test stack: a Debian testing root filesystem, run with
  # bubblewrap (scripts/testing-rootfs.sh, scripts/in-testing.sh).
  mmdebstrap bubblewrap debian-archive-keyring
  # The virtual-machine lab (scripts/vm-image.sh, scripts/vm-run.sh): qemu
  # (TCG; the host's KVM may be PVM), qemu-img for the image and overlays,
  # the vfat tools for the cloud-init seed, ssh/scp, mke2fs.
  qemu-system-x86 qemu-utils dosfstools mtools openssh-client e2fsprogs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  # Package splits differ between releases (Ubuntu 22.04 has no separate
  # dbus-daemon package, for one): install what this release has.
  installable=()
  for p in "${missing[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then
      installable+=("$p")
    else
      echo "setup: $p is not a package here; skipped"
    fi
  done
  echo "setup: installing ${installable[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${installable[@]}"
else
  echo "setup: system packages already installed"
fi

# sway refuses to run as root: the testbed runs it as this user when the
# tests run as root.
if ! id ionchannel-lab >/dev/null 2>&1; then
  useradd --system --create-home --shell /usr/sbin/nologin ionchannel-lab
  echo "setup: created user ionchannel-lab"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install a Rust toolchain (1.85 or newer), e.g. from https://rustup.rs" >&2
  exit 1
fi
echo "setup: done"
