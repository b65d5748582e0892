#!/usr/bin/env bash
# Fetches the Debian packages the process and node tiers run (static busybox, socat,
# docker-registry, wrk; containerd, runc and the CNI plugins for the node) into a cache
# outside the repo and unpacks them with `dpkg -x`. Nothing is installed on the system:
# apt runs with private lists and archives under the cache, and shared libraries the host
# lacks (libwrap0 for socat, luajit for wrk) are unpacked beside the programs; the tests
# run them with LD_LIBRARY_PATH (test/helpers/tools.ts). Later runs return at once.
set -euo pipefail

CACHE="${PODHOOKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podhooks}"
DEBS="$CACHE/debs"
ROOT="$DEBS/root"
PACKAGES=(busybox-static socat docker-registry wrk containerd runc containernetworking-plugins)
STAMP="$ROOT/.podhooks-packages"

if [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "# ${PACKAGES[*]}" ]; then
  echo "provision-debs: using cached packages in $ROOT ($(tail -n +2 "$STAMP" | tr '\n' ' '))"
  exit 0
fi
for tool in apt-get apt-cache dpkg dpkg-query; do
  command -v "$tool" >/dev/null || { echo "provision-debs: $tool is required (a Debian or Ubuntu machine); the tests run Debian's busybox, socat, docker-registry and containerd" >&2; exit 1; }
done

mkdir -p "$DEBS/apt/lists/partial" "$DEBS/apt/cache/archives/partial" "$DEBS/download"
# Private apt state: the machine's own lists, cache and dpkg database stay untouched.
APT=(-o "Dir::State::Lists=$DEBS/apt/lists" -o "Dir::Cache=$DEBS/apt/cache" -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)")
echo "provision-debs: reading the package lists of $(. /etc/os-release && echo "$PRETTY_NAME") (private copy in $DEBS/apt)"
apt-get "${APT[@]}" -qq update

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# deps PKG: the first alternative of each Depends/Pre-Depends entry, without versions.
deps() {
  apt-cache "${APT[@]}" show --no-all-versions "$1" 2>/dev/null |
    awk '/^(Pre-)?Depends:/ { sub(/^[^:]*: /, ""); n = split($0, d, /, /); for (i = 1; i <= n; i++) { split(d[i], alt, / \| /); sub(/ .*/, "", alt[1]); sub(/:any$/, "", alt[1]); print alt[1] } }'
}

# The named packages, plus the shared libraries (lib*) they need that the host lacks,
# transitively. Other dependencies (adduser, init scripts, iptables) are not needed to
# run the programs the way the tests do.
want=("${PACKAGES[@]}")
queue=("${PACKAGES[@]}")
while [ ${#queue[@]} -gt 0 ]; do
  pkg=${queue[0]}; queue=("${queue[@]:1}")
  for dep in $(deps "$pkg"); do
    case $dep in lib*) ;; *) continue ;; esac
    installed "$dep" && continue
    case " ${want[*]} " in *" $dep "*) continue ;; esac
    want+=("$dep"); queue+=("$dep")
  done
done

echo "provision-debs: downloading ${want[*]}"
(cd "$DEBS/download" && rm -f ./*.deb && apt-get "${APT[@]}" -qq download "${want[@]}")
rm -rf "$ROOT.tmp"
mkdir -p "$ROOT.tmp"
versions=()
for deb in "$DEBS"/download/*.deb; do
  dpkg -x "$deb" "$ROOT.tmp"
  versions+=("$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)")
done
{ echo "# ${PACKAGES[*]}"; printf '%s\n' "${versions[@]}"; } >"$ROOT.tmp/.podhooks-packages"
rm -rf "$ROOT"
mv "$ROOT.tmp" "$ROOT"
echo "provision-debs: ready in $ROOT: ${versions[*]}"
