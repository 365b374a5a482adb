#!/usr/bin/env bash
# Builds (once) a Debian testing root file system with the newest desktop
# stack the end-to-end tests run against: sway, labwc, xdg-desktop-portal
# (+ the wlr reference backend), PipeWire, WirePlumber, GStreamer's
# pipewiresrc. scripts/in-testing.sh runs programs inside it with bubblewrap.
#
#   scripts/testing-rootfs.sh        # prints the rootfs path (last line)
#
# Idempotent and cache friendly: the tree goes to
#   /var/cache/ionchannel/rootfs/testing-<hash>
# where <hash> covers this script's version, the suite and the package list,
# with `current` pointing at it. When that directory exists, nothing is
# downloaded (CI can cache /var/cache/ionchannel/rootfs). The build goes to a
# temporary directory first and is renamed into place only when complete.
#
# Environment (all optional):
#   ION_ROOTFS_CACHE   cache directory      (/var/cache/ionchannel/rootfs)
#   ION_TESTING_SUITE  suite                (testing; part of the hash)
#   ION_TESTING_MIRROR mirror               (the Debian archive this host's apt
#                                            sources use; see host_mirror below)
#   ION_ROOTFS_KEEP    older trees to keep  (2; 0: every other testing-* goes)
#
# Needs root (mmdebstrap's root mode). Installs mmdebstrap and bubblewrap with
# apt when they are missing. A cold build takes a few minutes, see
# docs/testing-stack.md.
set -euo pipefail

# Bump when the way the tree is built changes (forces a rebuild).
SCRIPT_VERSION=2

CACHE=${ION_ROOTFS_CACHE:-/var/cache/ionchannel/rootfs}
SUITE=${ION_TESTING_SUITE:-testing}

# shellcheck source-path=SCRIPTDIR source=lib/host-mirror.sh
. "$(dirname "$(readlink -f "$0")")/lib/host-mirror.sh"
# shellcheck source-path=SCRIPTDIR source=lib/debian-tree.sh
. "$(dirname "$(readlink -f "$0")")/lib/debian-tree.sh"
MIRROR=${ION_TESTING_MIRROR:-$(host_mirror)}
if [ -z "$MIRROR" ]; then
  echo "testing-rootfs: no Debian archive in this host's apt sources; set ION_TESTING_MIRROR" >&2
  exit 1
fi

PACKAGES=(
  # compositors, and wlr-randr: labwc has no IPC, so the testbed lists and
  # changes its outputs through wlr-output-management
  sway labwc xkb-data wlr-randr
  # the portal frontend, its reference wlroots backend (benchmarks) and the
  # document portal's FUSE helper
  xdg-desktop-portal xdg-desktop-portal-wlr fuse3
  # PipeWire and its session manager, pw-cli / pw-dump
  pipewire pipewire-bin wireplumber
  # the private session bus and the tools to talk to it
  dbus-daemon dbus-bin libglib2.0-bin
  # the screencast consumer the tests use
  gstreamer1.0-tools gstreamer1.0-pipewire gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  # what the host-built ionchannel / ion-probe link against (libc6 and
  # libgcc-s1 are essential anyway)
  libxkbcommon0 libwayland-client0 libpipewire-0.3-0t64
  # the host-built consent dialog (ionchannel-consent) runs on the rootfs's
  # GTK 4, with a font to draw its words
  libgtk-4-1 fonts-dejavu-core
  # setpriv, ps/pgrep, a registry dump (wayland-info)
  util-linux procps wayland-utils ca-certificates
  # third-party portal clients the tests drive unmodified: libportal through
  # Python GI, and Deskflow (client on the Wayland side, server on an X
  # server driven with xdotool)
  python3-gi gir1.2-xdp-1.0 deskflow xvfb xdotool
  # the browser and the recorder the ScreenCast tests drive (issue 13):
  # Chromium's getDisplayMedia, OBS Studio's PipeWire screen capture source
  # (in obs-plugins); grim takes the screenshots their pictures are compared
  # with, ffmpeg decodes OBS's recording
  chromium obs-studio obs-plugins grim ffmpeg
)

log() { printf 'testing-rootfs: %s\n' "$*" >&2; }

hash=$(
  {
    echo "version=$SCRIPT_VERSION"
    echo "suite=$SUITE"
    printf '%s\n' "${PACKAGES[@]}" | sort
  } | sha256sum | cut -c1-12
)
name="testing-$hash"
target="$CACHE/$name"

if [ -f "$target/etc/ionchannel-rootfs" ]; then
  if [ "$(readlink "$CACHE/current" 2>/dev/null)" != "$name" ]; then
    ln -sfn "$name" "$CACHE/current.tmp.$$" && mv -T "$CACHE/current.tmp.$$" "$CACHE/current"
  fi
  log "up to date: $target"
  echo "$target"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "building the rootfs needs root (mmdebstrap root mode)"
  exit 1
fi

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
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

include=$(IFS=,; echo "${PACKAGES[*]}")
log "building $name ($SUITE from $MIRROR) in $tmp"
start=$(date +%s)
# The options are lib/debian-tree.sh's (shared with vm-image.sh).
# The customize hooks make the mount points scripts/in-testing.sh binds over
#   the read-only tree, and record what was built (the last file written,
#   etc/ionchannel-rootfs, marks a complete tree).
# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, not ours
mmdebstrap \
  "${DEBIAN_TREE_OPTS[@]}" \
  --include="$include" \
  --customize-hook='mkdir -p "$1/work" "$1/var/cache/ionchannel"' \
  --customize-hook='chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" > "$1/etc/ionchannel-packages"' \
  --customize-hook="printf 'name=$name\nsuite=$SUITE\nscript_version=$SCRIPT_VERSION\nbuilt=%s\n' \"\$(date -u +%FT%TZ)\" > \"\$1/etc/ionchannel-rootfs\"" \
  "$SUITE" "$tmp" "$MIRROR" >&2
end=$(date +%s)

# Another run may have finished first: keep theirs.
if [ -e "$target" ]; then
  log "$target appeared meanwhile; keeping it"
else
  mv -T "$tmp" "$target"
fi
ln -sfn "$name" "$CACHE/current.tmp.$$" && mv -T "$CACHE/current.tmp.$$" "$CACHE/current"

# Drop older trees (each is several hundred MB), but keep the newest two:
# checkouts of other branches (another package list, so another tree) may be
# running tests on theirs right now.
keep=${ION_ROOTFS_KEEP:-2}
# shellcheck disable=SC2012
{ ls -1dt "$CACHE"/testing-* 2>/dev/null || true; } | { grep -vxF "$target" || true; } |
  tail -n +"$((keep + 1))" | while read -r old; do
  log "removing old $old"
  rm -rf "$old"
done

log "built in $((end - start)) s, size $(du -sh "$target" | cut -f1)"
echo "$target"
