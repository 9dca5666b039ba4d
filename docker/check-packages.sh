#!/bin/sh
# Unit test (ctest docker_packages): docker/Dockerfile's build stage installs exactly the
# "# build:" section of scripts/packages.txt, the one package list.
#   usage: docker/check-packages.sh [REPO_ROOT]
# Parses the list on its own, takes the sed program the Dockerfile runs on the list, runs that
# program on the same file and compares; also checks the Dockerfile copies that file and that
# no stage installs a -dev package by name.
set -eu
root=${1:-$(dirname "$0")/..}
list=$root/scripts/packages.txt
df=$root/docker/Dockerfile
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The build section, read independently: lines after "# build:" up to the next "# x:" header.
awk '/^# build:/ {on=1; next} /^# [a-z]+:/ {on=0} on && !/^#/ && NF {print $1}' "$list" \
  | sort >"$tmp/want"
[ -s "$tmp/want" ] || fail "no build section in $list"

# 2. The Dockerfile copies the list and runs one sed program over it inside apt-get install.
grep -q '^COPY scripts/packages.txt /tmp/packages.txt$' "$df" || fail "Dockerfile does not COPY scripts/packages.txt"
n=$(grep -c "apt-get install .*\$(sed -n '[^']*' /tmp/packages.txt)" "$df" || true)
[ "$n" = 1 ] || fail "want exactly one 'apt-get install \$(sed -n '...' /tmp/packages.txt)' in the Dockerfile, found $n"
prog=$(grep "apt-get install .*\$(sed -n '[^']*' /tmp/packages.txt)" "$df" | sed "s/.*\$(sed -n '\([^']*\)' .*/\1/")
sed -n "$prog" "$list" | awk 'NF {print $1}' | sort >"$tmp/got"

# 3. Same packages, same count.
if ! cmp -s "$tmp/want" "$tmp/got"; then
  echo "build section vs Dockerfile install:" >&2
  diff "$tmp/want" "$tmp/got" >&2 || true
  fail "the Dockerfile does not install exactly the build section"
fi

# 4. That install line adds nothing else, and no stage names a -dev package itself.
rest=$(grep "apt-get install .*\$(sed -n '[^']*' /tmp/packages.txt)" "$df" \
  | sed "s/\$(sed -n '[^']*' \/tmp\/packages.txt)//; s/.*apt-get install//; s/\\\\\$//")
for w in $rest; do
  case $w in -y | --no-install-recommends | -q | -qq) ;; *) fail "the build install also names '$w'" ;; esac
done
if grep -E '^\s*(RUN|&&|\\)?.*apt-get install' "$df" | grep -v '/tmp/packages.txt' | grep -Eq -- '-dev(\s|$)'; then
  fail "the Dockerfile installs a -dev package outside scripts/packages.txt"
fi
# 5. The runtime stage: Debian 12 slim, non-root, a HEALTHCHECK on /healthz.
grep -q '^FROM debian:12-slim AS runtime' "$df" || fail "runtime stage is not debian:12-slim"
grep -Eq '^USER [0-9]+' "$df" || fail "no numeric non-root USER"
grep -A2 '^HEALTHCHECK' "$df" | grep -q '/healthz' || fail "no HEALTHCHECK on /healthz"

echo "docker_packages: $(wc -l <"$tmp/want") build packages, Dockerfile installs the same"
