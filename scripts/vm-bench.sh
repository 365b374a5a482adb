#!/usr/bin/env bash
# The ScreenCast benchmark's workloads in the VM lab, where the compositor
# has a DRM device and ionChannel can fill dmabufs (docs/vm-lab.md): labwc
# rendering with GLES2 on llvmpipe (IONLAB_RENDER_NODE), ionChannel alone
# (the image has no xdpw), each workload once with consumers that take shm
# and once with consumers that prefer dmabufs. What it is for: how much a
# small changing region saves the compositor per frame when wlroots copies
# only the damage into a dmabuf, against the whole-output readback of shm
# (issue 13). Everything runs under TCG: absolute figures are many times a
# real machine's; the ratios between rows are the point.
#
#   scripts/vm-bench.sh [--seconds N] [--workloads "1080p full,1080p 256x256"]
#
# Builds the release binaries here, boots a fresh VM (scripts/vm-run.sh),
# runs as the unprivileged user `lab`; the reports land in the results
# directory vm-run.sh prints (bench-shm.txt, bench-dmabuf.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=5
workloads="1080p full,1080p 256x256"
while [ "$#" -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--workloads LIST]" >&2; exit 2 ;;
  esac
done

cargo build --release --workspace --bins --locked >&2
# shellcheck source-path=SCRIPTDIR source=lib/vm-stage.sh
. scripts/lib/vm-stage.sh
stage=$(vm_stage release)
trap 'rm -rf "$stage"' EXIT

# shellcheck disable=SC2016 # runs in the guest
guest='set -u
res=/root/results; mkdir -p "$res"
seatd -g video -l info >"$res/seatd.log" 2>&1 &
for _ in $(seq 50); do [ -S /run/seatd.sock ] && break; sleep 0.1; done
rm -rf /opt/ion; cp -r /root/ion /opt/ion; chmod -R a+rX /opt/ion
status=0
for consumer in shm dmabuf; do
  flag=; [ "$consumer" = dmabuf ] && flag=--consumer-dmabuf
  echo "== consumers: $consumer"
  runuser -u lab -- env -i PATH=/usr/bin:/bin HOME=/home/lab LIBSEAT_BACKEND=seatd \
    IONLAB_RENDER_NODE=/dev/dri/card0 IONLAB_COMPOSITOR=labwc ION_BIN_DIR=/opt/ion \
    /opt/ion/ionchannel-lab bench screencast --portal ionchannel \
      --workloads "'"$workloads"'" --seconds '"$seconds"' $flag \
    >"$res/bench-$consumer.txt" 2>"$res/bench-$consumer.log"
  rc=$?
  cat "$res/bench-$consumer.txt"
  [ "$rc" -eq 0 ] || { tail -20 "$res/bench-$consumer.log"; status=$rc; }
done
exit "$status"'

rc=0
scripts/vm-run.sh --copy-in "$stage/ion" -- "$guest" || rc=$?
exit "$rc"
