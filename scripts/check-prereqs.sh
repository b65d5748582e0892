#!/usr/bin/env bash
# What `npm test` cannot fetch for itself: Go (builds Kubernetes, the kubelet and the
# authz client from the Go module proxy), a JDK with jdb and jlink (debug mode's JVM,
# the node tier's Java image), and the base tools the node tier runs a node with (root,
# iproute2, util-linux, openssl, ldd, GNU tar). Everything else is provisioned into the cache.
set -euo pipefail
missing=()
command -v go >/dev/null || missing+=("go (Go >= 1.26: https://go.dev/dl)")
for t in java javac jdb jlink; do command -v "$t" >/dev/null || missing+=("$t (a JDK >= 17, e.g. Debian's openjdk-17-jdk-headless)"); done
for t in ip:iproute2 unshare:util-linux nsenter:util-linux mount:mount openssl:openssl ldd:libc-bin tar:tar; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t%%:*} (the node tier; Debian package ${t#*:})")
done
[ "$(id -u)" = 0 ] || missing+=("root (the node tier runs containerd and a kubelet)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "podhooks tests: these prerequisites are missing from PATH:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
