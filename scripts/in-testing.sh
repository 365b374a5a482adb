#!/usr/bin/env bash
# Runs a command inside the Debian testing root file system built by
# scripts/testing-rootfs.sh, with bubblewrap:
#
#   scripts/in-testing.sh [--user] CMD ARGS...
#
# The command sees the rootfs as / (read-only), but shares with the host
# everything the testbed needs to mix host and rootfs processes: the PID and
# network namespaces, the uids, /proc, /dev, /sys, /tmp (where the testbed
# keeps XDG_RUNTIME_DIR and so every socket: bus, PipeWire, Wayland, sway
# IPC), /work and /var/cache/ionchannel (so host-built binaries such as
# /var/cache/ionchannel/target/debug/ionchannel run inside at the same path,
# on the rootfs's newer, ABI-compatible libraries). The environment is passed
# through unchanged.
#
# --user   run as the lab user (uid/gid of `ionchannel-lab` on the host, 999
#          if unknown; override with ION_LAB_UID / ION_LAB_GID) through
#          setpriv: sway refuses to run as root. Numbers, not names: the
#          rootfs's /etc/passwd does not know that user.
#
#   scripts/in-testing.sh --shims DIR
#
# writes into DIR one small wrapper script per stack program (sway, labwc,
# swaymsg, wlr-randr, setpriv, dbus-daemon, pipewire, wireplumber, pw-cli,
# pw-dump, gst-launch-1.0, wayland-info, xdg-desktop-portal,
# xdg-desktop-portal-wlr, plus ionchannel, ionchannel-consent and
# ion-cosmic-profile, the cosmic-comp stand-in, for the host-built binaries in
# ION_BIN_DIR) that runs it inside the rootfs, and prints
# DIR. With DIR first in PATH, the project's testbed runs the testing stack
# unchanged:
#
#   shims=$(scripts/in-testing.sh --shims /tmp/ion-shims)
#   PATH=$shims:$PATH IONLAB_PORTAL_BIN=$shims/xdg-desktop-portal \
#     IONCHANNEL_BIN=$shims/ionchannel ionchannel-lab demo
#
# The setpriv wrapper turns the testbed's `setpriv --reuid=<name>
# --regid=<gid> ... -- CMD` into `in-testing.sh --user CMD` with numbers (the
# rootfs does not know the name). A wrapper run from inside the rootfs runs
# the real program directly.
#
# Environment: ION_TESTING_ROOTFS (default /var/cache/ionchannel/rootfs/current),
# ION_BIN_DIR (host-built binaries, default /var/cache/ionchannel/target/debug)
#
# Processes and signals: the pid the caller gets is bwrap's (it stays as a
# small monitor, uid 0 without capabilities); under it a root shell (the
# "keeper", see the end of this file), under that CMD. All stay in the
# caller's process group and session, so signalling the group reaches CMD.
# When the bwrap process or the keeper dies (killed alone, or the caller
# died), CMD gets SIGTERM. Exit status: CMD's (128+N when killed by signal N).
set -euo pipefail

self=$(readlink -f "$0")

# write_shims DIR: see the header.
write_shims() {
  local dir=$1 name real candidate
  mkdir -p "$dir"
  for name in sway labwc swaymsg wlr-randr setpriv dbus-daemon pipewire wireplumber pw-cli \
    pw-dump gst-launch-1.0 wayland-info xdg-desktop-portal xdg-desktop-portal-wlr; do
    real=
    for candidate in /usr/bin/$name /usr/sbin/$name /usr/libexec/$name; do
      if [ -x "$rootfs$candidate" ]; then real=$candidate; break; fi
    done
    [ -n "$real" ] || { echo "in-testing: no $name in the rootfs" >&2; return 1; }
    {
      echo '#!/bin/sh'
      echo "# written by scripts/in-testing.sh --shims: $name from the testing rootfs"
      echo "[ -f /etc/ionchannel-rootfs ] && exec $real \"\$@\""
      if [ "$name" = setpriv ]; then
        # `setpriv --reuid=U --regid=G [other options] -- CMD...` becomes
        # `in-testing.sh --user CMD...` with U and G as numbers (see --user
        # for why setpriv must not be the sandbox's first process). The
        # other options (--init-groups, --pdeathsig) are what --user does.
        # shellcheck disable=SC2016
        printf '%s\n' \
          'while [ "$#" -gt 0 ]; do' \
          '  case "$1" in' \
          '    --reuid=*) ION_LAB_UID=${1#--reuid=} ;;' \
          '    --regid=*) ION_LAB_GID=${1#--regid=} ;;' \
          '    --) shift; break ;;' \
          '  esac' \
          '  shift' \
          'done' \
          'case "$ION_LAB_UID" in *[!0-9]*) ION_LAB_UID=$(id -u "$ION_LAB_UID") ;; esac' \
          'case "$ION_LAB_GID" in *[!0-9]*) ION_LAB_GID=$(getent group "$ION_LAB_GID" | cut -d: -f3) ;; esac' \
          'export ION_LAB_UID ION_LAB_GID' \
          "exec $self --user \"\$@\""
      else
        echo "exec $self $real \"\$@\""
      fi
    } >"$dir/$name"
  done
  # The stand-in runs as the lab user, like the rootfs's compositors: through
  # the setpriv shim, which execs this shim inside the rootfs.
  for name in ionchannel ionchannel-consent ion-cosmic-profile; do
    {
      echo '#!/bin/sh'
      echo "# written by scripts/in-testing.sh --shims: the host-built $name, run inside the testing rootfs"
      echo "bin=\${ION_BIN_DIR:-${ION_BIN_DIR:-/var/cache/ionchannel/target/debug}}/$name"
      # shellcheck disable=SC2016
      echo '[ -f /etc/ionchannel-rootfs ] && exec "$bin" "$@"'
      echo "exec $self \"\$bin\" \"\$@\""
    } >"$dir/$name"
  done
  chmod 755 "$dir"/*
  echo "$dir"
}

user=0
if [ "${1:-}" = "--user" ]; then
  user=1
  shift
fi
if [ "$#" -eq 0 ]; then
  echo "usage: $0 [--user] CMD ARGS..." >&2
  exit 2
fi

rootfs=${ION_TESTING_ROOTFS:-/var/cache/ionchannel/rootfs/current}
if [ ! -f "$rootfs/etc/ionchannel-rootfs" ]; then
  echo "in-testing: no rootfs at $rootfs; build it with scripts/testing-rootfs.sh" >&2
  exit 1
fi
rootfs=$(readlink -f "$rootfs")
# bwrap cannot create mount points in the read-only tree: the rootfs script
# makes /work and /var/cache/ionchannel; anything else is made here.
for dir in /work /var/cache/ionchannel; do
  [ -d "$rootfs$dir" ] || mkdir -p "$rootfs$dir"
done

if [ "$1" = "--shims" ]; then
  [ "$#" -eq 2 ] || { echo "usage: $0 --shims DIR" >&2; exit 2; }
  write_shims "$2"
  exit
fi

args=(
  # The whole rootfs read-only as /: nothing a test does can change the
  # cached tree.
  --ro-bind "$rootfs" /
  # Host /proc (not --proc, which needs a PID namespace of its own): the
  # portal frontend reads /proc/<pid> of its callers (host processes too) to
  # find their app id.
  --bind /proc /proc
  # Host /dev as it is: /dev/shm stays writable and shared with the host,
  # /dev/fuse is there for the document portal, /dev/null, /dev/pts...
  --dev-bind /dev /dev
  # Read-only /sys: libraries that enumerate devices (udev, PipeWire's ALSA
  # monitor) find the real tree instead of an error.
  --ro-bind /sys /sys
  # Host /tmp, writable: the testbed's temp root (runtime dir with every
  # socket, logs, configs) is under /tmp and must be the same files on both
  # sides.
  --bind /tmp /tmp
  # The sources and the host-built binaries, at the same paths as on the
  # host (writable, like on the host: tests may write scratch files there).
  --bind /work /work
  --bind /var/cache/ionchannel /var/cache/ionchannel
  # Scratch space the rootfs would otherwise have read-only: /run (no host
  # services are wanted from there; the testbed's runtime dirs are in /tmp),
  # /var/tmp, and root's HOME (programs writing ~/.cache keep working).
  --tmpfs /run
  --tmpfs /var/tmp
  --tmpfs /root
  # The rootfs's /etc/machine-id is empty: dbus-daemon and libdbus clients
  # need one; share the host's so both sides agree.
  --ro-bind-try /etc/machine-id /etc/machine-id
  # bwrap run by root drops every capability by default; keep them so root
  # inside stays root (reads the lab user's 0700 runtime dir, setpriv can
  # change uid, the document portal can mount FUSE).
  --cap-add ALL
)
# Not used, on purpose: --unshare-pid (callers' pids must be visible to the
# frontend), --unshare-net (host test processes connect over unix sockets,
# which work anyway, but PipeWire/D-Bus peers are matched by pid too),
# --unshare-user (uids must be the host's for D-Bus EXTERNAL auth and file
# ownership), --new-session (would take CMD out of the caller's process group,
# which the testbed signals), --clearenv (the environment is passed through).
# The checkout, the build output and the caller's directory may live outside
# the trees bound above (CI clones anywhere, e.g. /check/...): bind each at
# its own path too, so paths mean the same on both sides. Each needs a mount
# point inside the read-only tree; make it in the cached rootfs (an empty
# directory, nothing else changes there).
covered=(/tmp /work /var/cache/ionchannel)
is_covered() {
  local p=$1 c
  for c in "${covered[@]}"; do
    case "$p/" in "$c"/*) return 0 ;; esac
  done
  return 1
}
here=$(cd "$(dirname "$0")/.." && pwd -P)
for dir in "$here" "${CARGO_TARGET_DIR:-}" "${ION_BIN_DIR:-}" "$PWD"; do
  [ -n "$dir" ] && [ -d "$dir" ] || continue
  dir=$(cd "$dir" && pwd -P)
  is_covered "$dir" && continue
  case "$dir" in /proc/* | /dev/* | /sys/* | /) continue ;; esac
  mkdir -p "$rootfs$dir"
  args+=(--bind "$dir" "$dir")
  covered+=("$dir")
done
if [ -d "$PWD" ]; then
  # Stay in the caller's directory (bound above when it was not already).
  args+=(--chdir "$PWD")
fi

# The sandbox's first process is a small root shell, the keeper, which runs
# CMD (through setpriv) in the foreground and exits with its status. Why:
# CMD must get a signal when whoever started it dies (a crashed test must
# leave no orphans). bwrap's --die-with-parent is not enough: its signal comes
# from bwrap's monitor process, which runs as uid 0 *without capabilities*,
# and the kernel silently drops it for a CMD running as the lab user, which
# then outlives everything (seen with sway). With the keeper: the monitor's
# death sends SIGTERM to the keeper (setpriv --pdeathsig; root to root is
# allowed), the keeper dies, and its death sends SIGTERM to CMD (the keeper
# has every capability). SIGTERM rather than SIGKILL: when the caller's
# process group gets SIGTERM, the monitor and the keeper die at once, and CMD
# must still be able to shut down cleanly. (The keeper runs CMD in the
# foreground: stdin and every inherited fd, e.g. a PipeWire remote on fd 3,
# pass through untouched.)
# shellcheck disable=SC2016
keeper='u=$1 g=$2
shift 2
if [ -n "$u" ]; then
  /usr/bin/setpriv --reuid="$u" --regid="$g" --clear-groups --pdeathsig=SIGTERM -- "$@"
else
  /usr/bin/setpriv --pdeathsig=SIGTERM -- "$@"
fi
s=$?
exit "$s"'

uid='' gid=''
if [ "$user" -eq 1 ]; then
  # Numbers: the rootfs's /etc/passwd does not know ionchannel-lab.
  uid=${ION_LAB_UID:-$(id -u ionchannel-lab 2>/dev/null || echo 999)}
  gid=${ION_LAB_GID:-$(id -g ionchannel-lab 2>/dev/null || echo 999)}
fi
exec bwrap "${args[@]}" -- /usr/bin/setpriv --pdeathsig=SIGTERM -- \
  /bin/sh -c "$keeper" in-testing "$uid" "$gid" "$@"
