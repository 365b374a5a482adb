# shellcheck shell=bash
# Sourced by the VM lab's runners (vm-test.sh, vm-bench.sh).
#
# vm_stage PROFILE: copies the programs the testbed runs (built with cargo
# in target/PROFILE, or CARGO_TARGET_DIR) into a new temporary directory's
# ion/, which vm-run.sh --copy-in puts in the guest; prints that directory.
# The caller removes it.
vm_stage() {
  local profile=$1 target stage b
  target=${CARGO_TARGET_DIR:-$PWD/target}
  stage=$(mktemp -d /tmp/ion-vm-stage.XXXXXX)
  mkdir -p "$stage/ion/deps"
  for b in ionchannel ionchannel-consent ionchannel-lab ion-probe ion-consumer ion-window; do
    cp "$target/$profile/$b" "$stage/ion/"
  done
  printf '%s\n' "$stage"
}
