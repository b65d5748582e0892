#!/usr/bin/env bash
# Builds the real control plane the e2e tier runs against (etcd, kube-apiserver,
# kube-controller-manager, kubectl), the node tier's kubelet and kube-scheduler, plus
# agnhost (the benchmark peer) from the Go module proxy, pinned, into a cache outside the
# repo, all from one go.mod. Only the first run builds (~15 min on 2 cores); later runs
# print the cached versions and return at once; a binary added to the list later is
# built alone.
set -euo pipefail

K8S_VERSION="${PODHOOKS_K8S_VERSION:-1.37.2}"
CACHE="${PODHOOKS_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podhooks/k8s/v$K8S_VERSION}"
BINARIES=(kube-apiserver kube-controller-manager kubectl etcd agnhost kubelet kube-scheduler)

have_all() { for b in "${BINARIES[@]}"; do [ -x "$CACHE/bin/$b" ] || return 1; done; }

if have_all; then
  echo "provision-k8s: using cached binaries in $CACHE/bin ($("$CACHE/bin/kube-apiserver" --version))"
  exit 0
fi

command -v go >/dev/null || { echo "provision-k8s: Go is required to build the control plane (https://go.dev/dl)" >&2; exit 1; }

minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
staging_version="v0.${K8S_VERSION#1.}"
work="$CACHE/src"
mkdir -p "$work" "$CACHE/bin"
cd "$work"

echo "provision-k8s: building Kubernetes v$K8S_VERSION into $CACHE (first run only; ~12 minutes on 2 cores)"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
cat > go.mod <<MOD
module podhooks.local/k8sbuild

go 1.26

require k8s.io/kubernetes v$K8S_VERSION
MOD
# kubernetes' own go.mod replaces each staging module with a local path; a standalone
# module must point those at the published versions instead.
go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >/dev/null
kmod="$(go env GOMODCACHE)/k8s.io/kubernetes@v$K8S_VERSION/go.mod"
grep -E '=> \./staging/' "$kmod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}' >> go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/test/images/agnhost"
)
GO
echo "provision-k8s: resolving modules"
go mod tidy >/dev/null 2>&1 || go get "k8s.io/kubernetes@v$K8S_VERSION" go.etcd.io/etcd/server/v3

ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
build() {
  local name="$1" pkg="$2" start=$SECONDS
  [ -x "$CACHE/bin/$name" ] && return 0
  echo "provision-k8s: go build $pkg"
  go build -trimpath -ldflags "-s -w $ldflags" -o "$CACHE/bin/$name.tmp" "$pkg"
  mv "$CACHE/bin/$name.tmp" "$CACHE/bin/$name"
  echo "provision-k8s: built $name in $((SECONDS - start))s"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build etcd go.etcd.io/etcd/server/v3
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl k8s.io/kubernetes/cmd/kubectl
build agnhost k8s.io/kubernetes/test/images/agnhost
build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
have_all
echo "provision-k8s: ready: $("$CACHE/bin/kube-apiserver" --version), etcd $("$CACHE/bin/etcd" --version | head -1)"
