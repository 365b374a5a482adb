# shellcheck shell=bash
# Sourced by testing-rootfs.sh and vm-image.sh: how both make a Debian tree
# with mmdebstrap (their package lists, hooks and targets are their own).
# --mode=root keeps file ownership; --variant=apt: Essential + apt only,
#   then --include (no Recommends: apt in mmdebstrap does not install them);
# Check-Valid-Until: the testing Release file may look expired next to this
#   machine's clock;
# path-exclude: no docs, man/info pages or translations (kept in the tree's
#   /etc/dpkg/dpkg.cfg.d/99mmdebstrap, so they stay excluded).
# shellcheck disable=SC2034 # used by the scripts that source this
DEBIAN_TREE_OPTS=(
  --mode=root
  --variant=apt
  --aptopt='Acquire::Check-Valid-Until "false"'
  --aptopt='Acquire::Retries "3"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/gtk-doc/*'
)
