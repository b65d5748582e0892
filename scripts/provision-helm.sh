#!/usr/bin/env bash
# Real Helm for the chart tests (helm lint, helm template -> server-side dry run), built
# from the Go module proxy, pinned, into a cache outside the repo, like provision-k8s.sh
# builds the control plane. Also fetches the published CRDs the chart's optional objects
# need on the apiserver (prometheus-operator's ServiceMonitor and PrometheusRule,
# cert-manager's Certificate and Issuer), from those projects' own Go modules.
# Only the first run builds (~5 minutes on 2 cores); later runs return at once.
set -euo pipefail

HELM_VERSION="${PODHOOKS_HELM_VERSION:-4.3.1}"
PROMETHEUS_OPERATOR_VERSION="${PODHOOKS_PROMETHEUS_OPERATOR_VERSION:-0.85.0}"
CERT_MANAGER_VERSION="${PODHOOKS_CERT_MANAGER_VERSION:-1.21.2}"
ROOT="${PODHOOKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podhooks}"
CACHE="${PODHOOKS_HELM_CACHE:-$ROOT/helm/v$HELM_VERSION}"
CRDS="$ROOT/crds/prometheus-operator-v$PROMETHEUS_OPERATOR_VERSION+cert-manager-v$CERT_MANAGER_VERSION"

have_crds() { [ -s "$CRDS/servicemonitors.yaml" ] && [ -s "$CRDS/prometheusrules.yaml" ] && [ -s "$CRDS/cert-manager.yaml" ]; }

if [ -x "$CACHE/bin/helm" ] && have_crds; then
  echo "provision-helm: using cached $("$CACHE/bin/helm" version --short) in $CACHE/bin and CRDs in $CRDS"
  exit 0
fi

command -v go >/dev/null || { echo "provision-helm: Go is required to build Helm (https://go.dev/dl)" >&2; exit 1; }
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

if [ ! -x "$CACHE/bin/helm" ]; then
  echo "provision-helm: building Helm v$HELM_VERSION into $CACHE (first run only)"
  start=$SECONDS
  mkdir -p "$CACHE/bin"
  # The version Helm reports comes from ldflags, as its Makefile sets them. -p 1: the
  # machine is shared; the build is a one-off.
  GOBIN="$CACHE/bin.tmp" go install -p 1 -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
  mv "$CACHE/bin.tmp/helm" "$CACHE/bin/helm"
  rmdir "$CACHE/bin.tmp"
  echo "provision-helm: built $("$CACHE/bin/helm" version --short) in $((SECONDS - start))s"
fi

if ! have_crds; then
  mkdir -p "$CRDS.tmp"
  # go mod download verifies each module against the checksum database.
  dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
  po="$(dir "github.com/prometheus-operator/prometheus-operator@v$PROMETHEUS_OPERATOR_VERSION")"
  cp "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$CRDS.tmp/servicemonitors.yaml"
  cp "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$CRDS.tmp/prometheusrules.yaml"
  cm="$(dir "github.com/cert-manager/cert-manager@v$CERT_MANAGER_VERSION")"
  cat "$cm/deploy/crds/cert-manager.io_certificates.yaml" > "$CRDS.tmp/cert-manager.yaml"
  printf -- '---\n' >> "$CRDS.tmp/cert-manager.yaml"
  cat "$cm/deploy/crds/cert-manager.io_issuers.yaml" >> "$CRDS.tmp/cert-manager.yaml"
  chmod -R u+w "$CRDS.tmp"
  rm -rf "$CRDS" && mv "$CRDS.tmp" "$CRDS"
  echo "provision-helm: CRDs from prometheus-operator v$PROMETHEUS_OPERATOR_VERSION and cert-manager v$CERT_MANAGER_VERSION in $CRDS"
fi
