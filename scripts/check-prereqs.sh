#!/usr/bin/env bash
# What `npm test` cannot fetch for itself: Go (builds Kubernetes, the kubelet and the
# authz client from the Go module proxy) and a JDK with jdb and jlink (debug mode's JVM,
# the node tier's Java image). Everything else is provisioned into the cache.
set -euo pipefail
missing=()
command -v go >/dev/null || missing+=("go (Go >= 1.26: https://go.dev/dl)")
for t in java javac jdb jlink; do command -v "$t" >/dev/null || missing+=("$t (a JDK >= 17, e.g. Debian's openjdk-17-jdk-headless)"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "podhooks tests: these prerequisites are missing from PATH:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
