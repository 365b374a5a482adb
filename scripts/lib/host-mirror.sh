# shellcheck shell=bash
# Sourced by testing-rootfs.sh and vm-image.sh: the Debian archive this host
# already uses, read from its apt sources (both the one-line and the deb822
# format, through apt itself): the first main archive that is not a
# security, updates or backports pocket. No mirror's name is ever written
# into this project; ION_TESTING_MIRROR overrides.
# shellcheck disable=SC2016 # apt's $(FIELD) placeholders, not ours
host_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' 2>/dev/null |
    awk '$3 == "main" && $1 !~ /security/ && $2 !~ /-(security|updates|backports)$/ { sub(/\/$/, "", $1); print $1; exit }'
}
