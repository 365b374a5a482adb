#!/usr/bin/env bash
# Smoke test of the Debian testing stack (scripts/testing-rootfs.sh,
# scripts/in-testing.sh): brings up, inside the rootfs and in a private temp
# dir, a session bus, PipeWire, WirePlumber, headless sway (as the lab user),
# checks its globals, then headless labwc, then ionChannel (the host-built
# binary) and xdg-desktop-portal routed to it, and reads the portal's
# properties from the host. Every process it starts is stopped on exit.
#
#   scripts/testing-smoke.sh            # needs root; builds the rootfs if needed
#
# Environment: ION_BIN_DIR (host-built binaries; default
# /var/cache/ionchannel/target/debug), ION_SMOKE_KEEP=1 keeps the temp dir.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
IN="$here/in-testing.sh"
BIN_DIR=${ION_BIN_DIR:-/var/cache/ionchannel/target/debug}
IONCHANNEL="$BIN_DIR/ionchannel"

if [ "$(id -u)" -ne 0 ]; then
  echo "testing-smoke: run as root (bwrap, setpriv, the lab user)" >&2
  exit 1
fi
[ -x "$IONCHANNEL" ] || {
  echo "testing-smoke: no $IONCHANNEL; build it: CARGO_TARGET_DIR=${BIN_DIR%/debug} cargo build --bins" >&2
  exit 1
}
rootfs=$("$here/testing-rootfs.sh" | tail -n 1)
export ION_TESTING_ROOTFS=$rootfs

LAB_UID=$(id -u ionchannel-lab 2>/dev/null || echo 999)
LAB_GID=$(id -g ionchannel-lab 2>/dev/null || echo 999)
export ION_LAB_UID=$LAB_UID ION_LAB_GID=$LAB_GID

# ---------------------------------------------------------------- layout ---
root=$(mktemp -d /tmp/ion-testing-smoke.XXXXXX)
run=$root/run            # XDG_RUNTIME_DIR of sway and everyone else
run_labwc=$root/run-labwc
logs=$root/logs
mkdir -p "$run" "$run_labwc" "$logs" "$root/home" "$root/config" "$root/data" \
  "$root/state" "$root/cache" "$root/portals" "$root/labwc"
# The lab user must reach its runtime dir through the root (0711) and own it
# (sway checks XDG_RUNTIME_DIR is its own and 0700); root still uses it (all
# capabilities are kept in the sandbox).
chmod 711 "$root"
chmod 700 "$run" "$run_labwc"
chown "$LAB_UID:$LAB_GID" "$run" "$run_labwc" "$root/home"

# A marker in every child's environment: at exit, anything still carrying it
# (D-Bus-activated services, compositor children) is found and killed by pid.
export ION_SMOKE_MARKER=$root
export HOME=$root/home XDG_CONFIG_HOME=$root/config XDG_DATA_HOME=$root/data \
  XDG_STATE_HOME=$root/state XDG_CACHE_HOME=$root/cache XDG_RUNTIME_DIR=$run
unset WAYLAND_DISPLAY DISPLAY SWAYSOCK I3SOCK DBUS_SESSION_BUS_ADDRESS PIPEWIRE_REMOTE \
  XDG_DESKTOP_PORTAL_DIR XDG_CURRENT_DESKTOP
BUS="unix:path=$run/bus"

pids=()   # every process started, in start order (each leads its own group)
names=()

stop_all() {
  local i pid
  # Newest first, each group: SIGTERM, then SIGKILL after 2 s.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Stragglers with our marker (e.g. xdg-permission-store, activated by the bus).
  local env_file
  for env_file in /proc/[0-9]*/environ; do
    pid=${env_file#/proc/}
    pid=${pid%/environ}
    [ "$pid" != "$$" ] || continue
    if { tr '\0' '\n' <"$env_file"; } 2>/dev/null | grep -qxF "ION_SMOKE_MARKER=$root"; then
      echo "testing-smoke: killing leftover $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-60))" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  pids=()
  names=()
}

cleanup() {
  local status=$?
  stop_all
  if [ "${ION_SMOKE_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    echo "testing-smoke: logs kept in $logs" >&2
  else
    rm -rf "$root"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background in its own process group
# (setsid does not fork: a background job of a script is no group leader),
# output to logs/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  names+=("$name")
}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
}
die() {
  fail "$*"
  local n
  for n in "${names[@]}"; do
    echo "---- tail of $n.log" >&2
    tail -n 15 "$logs/$n.log" >&2 || true
  done
  echo "testing-smoke: $passed passed, $failed failed"
  exit 1
}

# wait_for DESCRIPTION SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.1
  done
}

has_owner() {
  dbus-send --bus="$BUS" --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q "boolean true"
}

first_socket() { # first_socket DIR GLOB
  local f
  for f in "$1"/$2; do [ -S "$f" ] && { echo "$f"; return 0; }; done
  return 1
}

REQUIRED_GLOBALS=(
  ext_image_copy_capture_manager_v1
  ext_output_image_capture_source_manager_v1
  zwlr_screencopy_manager_v1
  zwlr_virtual_pointer_manager_v1
  zwp_virtual_keyboard_manager_v1
  ext_foreign_toplevel_list_v1
)

# check_globals NAME RUNTIME_DIR DISPLAY: registry dump with wayland-info
# (from the rootfs) and the host-built `ionchannel doctor`.
check_globals() {
  local name=$1 rt=$2 display=$3 g
  XDG_RUNTIME_DIR=$rt WAYLAND_DISPLAY=$display "$IN" wayland-info >"$logs/$name-wayland-info.txt" 2>&1 ||
    die "$name: wayland-info failed"
  sed -n "s/^interface: '\([^']*\)', *version: *\([0-9]*\).*/\1 v\2/p" \
    "$logs/$name-wayland-info.txt" >"$logs/$name-globals.txt"
  for g in "${REQUIRED_GLOBALS[@]}"; do
    grep -q "^$g " "$logs/$name-globals.txt" || die "$name does not advertise $g"
  done
  ok "$name advertises $(wc -l <"$logs/$name-globals.txt") globals, including ${REQUIRED_GLOBALS[*]}"
  # PipeWire runs in sway's runtime dir: point labwc's doctor at it too.
  XDG_RUNTIME_DIR=$rt WAYLAND_DISPLAY=$display PIPEWIRE_REMOTE=$run/pipewire-0 RUST_LOG=error \
    "$IN" "$IONCHANNEL" doctor \
    >"$logs/$name-doctor.txt" 2>&1 || die "$name: ionchannel doctor failed (see $logs/$name-doctor.txt)"
  grep -q "RemoteDesktop pointer *ok" "$logs/$name-doctor.txt" ||
    die "$name: doctor reports no pointer injection"
  ok "$name: host-built ionchannel doctor runs inside the rootfs: $(grep -c ' ok ' "$logs/$name-doctor.txt") features ok"
}

echo "rootfs: $rootfs ($(grep '^built=' "$rootfs/etc/ionchannel-rootfs"))"
for tool in "sway --version" "labwc --version" "/usr/libexec/xdg-desktop-portal --version" \
  "pipewire --version" "wireplumber --version"; do
  # shellcheck disable=SC2086
  echo "  $("$IN" $tool 2>&1 | grep -iE 'version|labwc|portal|Linked with' | head -1)"
done

# -------------------------------------------------------------- the bus ---
start dbus-daemon "$IN" dbus-daemon --session --nofork --print-address "--address=$BUS"
wait_for "the session bus" 10 has_owner org.freedesktop.DBus
ok "dbus-daemon (rootfs) answers the host's dbus-send on $BUS"
export DBUS_SESSION_BUS_ADDRESS=$BUS

# ------------------------------------------------ PipeWire, WirePlumber ---
start pipewire "$IN" pipewire
wait_for "PipeWire" 10 "$IN" pw-cli -r pipewire-0 info 0
start wireplumber "$IN" wireplumber
wireplumber_connected() {
  "$IN" pw-cli -r pipewire-0 ls Client 2>/dev/null | grep -q 'application.name = "WirePlumber"'
}
wait_for "WirePlumber to connect" 15 wireplumber_connected
ok "pipewire + wireplumber (rootfs) up on $run/pipewire-0"

# ----------------------------------------------------------------- sway ---
printf '%s\n' 'xwayland disable' 'default_border none' 'focus_follows_mouse no' \
  'output HEADLESS-1 mode 1920x1080 position 0 0' >"$root/sway.conf"
chmod 644 "$root/sway.conf"
# sway refuses root: run it as the lab user (numbers, see in-testing.sh).
start sway env WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 \
  WLR_HEADLESS_OUTPUTS=1 "$IN" --user sway --config "$root/sway.conf"
wait_for "sway's sockets" 15 sh -c "ls $run/wayland-* $run/sway-ipc.*.sock" 
sway_display=$(basename "$(first_socket "$run" 'wayland-*')")
sway_ipc=$(first_socket "$run" 'sway-ipc.*.sock')
swaymsg_outputs() { "$IN" swaymsg -s "$sway_ipc" -t get_outputs --raw; }
wait_for "swaymsg -t get_outputs" 10 sh -c "'$IN' swaymsg -s '$sway_ipc' -t get_outputs --raw | grep -q HEADLESS-1"
swaymsg_outputs >"$logs/sway-outputs.json"
ok "sway (uid $LAB_UID) on $sway_display: swaymsg -t get_outputs lists $(tr -d ' \n' <"$logs/sway-outputs.json" |
  grep -o '"name":"HEADLESS-[0-9]*"' | cut -d'"' -f4 | tr '\n' ' ')"
"$IN" swaymsg -s "$sway_ipc" -t get_version --raw >"$logs/sway-version.json"
check_globals sway "$run" "$sway_display"

# ---------------------------------------------------------------- labwc ---
# labwc runs as root (it does not refuse); an empty config dir (-C) keeps it
# from reading anything else. Own runtime dir, so its socket is easy to find.
chown root:root "$run_labwc"
start labwc env XDG_RUNTIME_DIR="$run_labwc" WLR_BACKENDS=headless WLR_RENDERER=pixman \
  WLR_LIBINPUT_NO_DEVICES=1 WLR_HEADLESS_OUTPUTS=1 "$IN" labwc -C "$root/labwc"
wait_for "labwc's socket" 15 first_socket "$run_labwc" 'wayland-?'
labwc_display=$(basename "$(first_socket "$run_labwc" 'wayland-?')")
ok "labwc (root) on $run_labwc/$labwc_display"
check_globals labwc "$run_labwc" "$labwc_display"
# Stop labwc now: the portal part runs on sway.
labwc_pid=${pids[-1]}
kill -TERM -- "-$labwc_pid"
wait "$labwc_pid" 2>/dev/null || true
unset 'pids[-1]' 'names[-1]'

# ----------------------------------------------- ionChannel + the portal ---
mkdir -p "$XDG_CONFIG_HOME/ionchannel" "$XDG_CONFIG_HOME/xdg-desktop-portal"
printf '%s\n' '[[allow]]' 'app_id = ""' 'devices = ["keyboard", "pointer", "touchscreen"]' \
  'sources = ["monitor", "window"]' >"$XDG_CONFIG_HOME/ionchannel/policy.toml"
cp "$repo/data/ionchannel.portal" "$root/portals/"
# Where 1.22 looks for portals.conf: normally $XDG_CONFIG_HOME/xdg-desktop-
# portal/(<desktop>-)portals.conf first, before /usr/share/xdg-desktop-portal/
# sway-portals.conf (which picks wlr). But with XDG_DESKTOP_PORTAL_DIR set, it
# reads <desktop>-portals.conf / portals.conf from that directory only, and
# without one there falls back to the deprecated UseIn= key of the .portal
# files (with a warning). So the config goes into the portals dir (and, for
# completeness, the user config dir).
cp "$repo/data/portals.conf" "$XDG_CONFIG_HOME/xdg-desktop-portal/portals.conf"
cp "$repo/data/portals.conf" "$root/portals/portals.conf"
export XDG_CURRENT_DESKTOP=sway WAYLAND_DISPLAY=$sway_display

start ionchannel env RUST_LOG=info "$IN" "$IONCHANNEL" serve
wait_for "ionChannel on the bus" 15 has_owner org.freedesktop.impl.portal.desktop.ionchannel
ok "ionchannel serve (host-built, in the rootfs) owns org.freedesktop.impl.portal.desktop.ionchannel"

start xdg-desktop-portal env XDG_DESKTOP_PORTAL_DIR="$root/portals" \
  XDG_DESKTOP_PORTAL_TEST_APP_INFO_KIND=host XDG_DESKTOP_PORTAL_TEST_HOST_APPID=org.example.Smoke \
  "$IN" /usr/libexec/xdg-desktop-portal -v
wait_for "the frontend" 20 has_owner org.freedesktop.portal.Desktop
ok "xdg-desktop-portal $("$IN" /usr/libexec/xdg-desktop-portal --version | cut -d' ' -f2) owns org.freedesktop.portal.Desktop"

# From the host (gdbus of Debian 12), through the frontend...
get() { # get DEST IFACE PROP
  gdbus call --address "$BUS" --dest "$1" --object-path /org/freedesktop/portal/desktop \
    --method org.freedesktop.DBus.Properties.Get "$2" "$3"
}
FRONT=org.freedesktop.portal.Desktop
BACK=org.freedesktop.impl.portal.desktop.ionchannel
rd_version=$(get $FRONT org.freedesktop.portal.RemoteDesktop version)
rd_devices=$(get $FRONT org.freedesktop.portal.RemoteDesktop AvailableDeviceTypes)
sc_version=$(get $FRONT org.freedesktop.portal.ScreenCast version)
sc_sources=$(get $FRONT org.freedesktop.portal.ScreenCast AvailableSourceTypes)
sc_cursor=$(get $FRONT org.freedesktop.portal.ScreenCast AvailableCursorModes)
echo "     frontend RemoteDesktop version=$rd_version AvailableDeviceTypes=$rd_devices"
echo "     frontend ScreenCast version=$sc_version AvailableSourceTypes=$sc_sources AvailableCursorModes=$sc_cursor"
# ... and ionChannel's own answers: the frontend passes the backend's through.
b_devices=$(get $BACK org.freedesktop.impl.portal.RemoteDesktop AvailableDeviceTypes)
b_sources=$(get $BACK org.freedesktop.impl.portal.ScreenCast AvailableSourceTypes)
b_cursor=$(get $BACK org.freedesktop.impl.portal.ScreenCast AvailableCursorModes)
echo "     ionchannel AvailableDeviceTypes=$b_devices AvailableSourceTypes=$b_sources AvailableCursorModes=$b_cursor"
if [ "$rd_devices" != "$b_devices" ] || [ "$sc_sources" != "$b_sources" ] || [ "$sc_cursor" != "$b_cursor" ]; then
  die "the frontend's properties differ from ionChannel's"
fi
# The frontend names the backend it picked for each interface in its log.
grep -E "ionchannel" "$logs/xdg-desktop-portal.log" | grep -iE "RemoteDesktop|ScreenCast" >"$logs/frontend-routing.txt" || true
[ "$(grep -c '^XDP: Using ionchannel' "$logs/frontend-routing.txt")" = 2 ] ||
  die "the frontend log does not show ionchannel picked for both interfaces"
! grep -q "deprecated UseIn" "$logs/frontend-routing.txt" ||
  die "the frontend ignored portals.conf and fell back to UseIn="
ok "portal properties read from the host come from ionchannel, picked through portals.conf:"
sed 's/^/       /' "$logs/frontend-routing.txt"

# A method call from a host process: the frontend must look the caller up
# (pid in /proc, app id) and accept it. CreateSession returns a Request path
# at once; the session itself needs the same connection for the next calls.
create=$(gdbus call --address "$BUS" --dest $FRONT --object-path /org/freedesktop/portal/desktop \
  --method org.freedesktop.portal.ScreenCast.CreateSession \
  "{'handle_token': <'smoke1'>, 'session_handle_token': <'smoke1s'>}" 2>&1) ||
  die "CreateSession from the host was refused: $create"
ok "ScreenCast.CreateSession from a host process accepted: $create"
# Without systemd there is no app scope, so a host caller's app id is "";
# 1.22 takes one from XDG_DESKTOP_PORTAL_TEST_HOST_APPID when
# XDG_DESKTOP_PORTAL_TEST_APP_INFO_KIND=host (both set for the frontend above;
# the app id alone does nothing) and passes it to the backend.
sed 's/\x1b\[[0-9;]*m//g' "$logs/ionchannel.log" | grep -q "session created.*app_id=org.example.Smoke" ||
  die "the frontend did not pass the test app id to ionchannel"
ok "app id from XDG_DESKTOP_PORTAL_TEST_HOST_APPID reaches ionchannel: $(grep -o "XdpAppInfoHost app '[^']*'" "$logs/xdg-desktop-portal.log" | head -1)"

# ------------------------------------- the project's testbed, unchanged ---
# ionchannel-lab demo runs its own session (bus, PipeWire, sway as the lab
# user, ionChannel, the frontend, the probe client) and a whole RemoteDesktop
# flow; wrappers first in PATH put every stack program in the rootfs.
LAB="$BIN_DIR/ionchannel-lab"
if [ -x "$LAB" ] && [ -x "$BIN_DIR/ion-probe" ]; then
  shims=$("$IN" --shims "$root/shims")
  start lab-demo env PATH="$shims:$PATH" IONLAB_PORTAL_BIN="$shims/xdg-desktop-portal" \
    IONCHANNEL_BIN="$shims/ionchannel" "$LAB" demo
  lab_pid=${pids[-1]}
  deadline=$((SECONDS + 120))
  while kill -0 "$lab_pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "ionchannel-lab demo still running after 120 s"
    sleep 0.2
  done
  lab_status=0
  wait "$lab_pid" || lab_status=$?
  if [ "$lab_status" -ne 0 ] || ! grep -q "typed text matches" "$logs/lab-demo.log"; then
    die "ionchannel-lab demo on the rootfs stack failed (status $lab_status)"
  fi
  ok "ionchannel-lab demo (RemoteDesktop through the frontend) on the rootfs stack: $(grep '^demo:' "$logs/lab-demo.log" | tail -1)"
else
  echo "skip ionchannel-lab demo: no $LAB / ion-probe"
fi

echo "testing-smoke: $passed passed, $failed failed"
