#!/bin/sh
# What the tests need that npm does not bring: Debian packages, named by a
# command each provides. `npm test` runs this first; it installs only what is
# missing (one apt-get update, then one install), so on a machine that has
# everything it costs a few `command -v`. Add a line to NEEDS for a new tool.
set -eu

# command  package
NEEDS='
socat socat
systemd-notify systemd
promtool prometheus
dot graphviz
chromium chromium
tmux tmux
setpriv util-linux
prlimit util-linux
unshare util-linux
perl perl-base
strace strace
gcc gcc
'

missing=''
for pair in $(printf '%s' "$NEEDS" | tr ' ' ':'); do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
# gcc builds the spawn library (npm run build) and the bench's C floor; it needs libc's headers.
[ -e /usr/include/stdio.h ] || missing="$missing libc6-dev"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing packages:$missing (install them, as root, with apt-get)" >&2
  exit 0
fi
echo "test-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
