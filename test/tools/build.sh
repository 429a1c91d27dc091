#!/usr/bin/env bash
# Builds the pinned control-plane binaries and linters into bin/.
#
# Each set of binaries is built from its own pinned module under test/tools and
# kept in a cache keyed by that module's go.mod/go.sum, the build flags and the
# Go version, outside the work tree. A fresh clone on a machine that built the
# same pins before copies them in seconds; nothing is rebuilt unless a pin
# changed. Override the cache with CLUSTERSET_TOOLS_CACHE.
#
# Usage: build.sh [SET...], SET one of etcd, kubernetes, helm, promrules, lint (default: all five). A cold
# build prints a progress line every 30 s (test/tools/progress.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/bin
cache=${CLUSTERSET_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterset/tools}
k8s_version=v1.37.2
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
-X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
# Keep in step with the helm.sh/helm/v4 pin in test/tools/helm/go.mod: `helm version` prints it.
helm_version=v4.3.1
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

mkdir -p "$bin" "$cache"

# build_set NAME MODULE_DIR LDFLAGS "BINARIES" PACKAGES...
build_set() {
  local name=$1 dir=$root/test/tools/$2 ldflags=$3 binaries=$4
  shift 4
  local key
  key=$( { cat "$dir"/go.mod "$dir"/go.sum; cat "$dir"/*.go 2>/dev/null || true; echo "$ldflags $*"; go version; } | sha256sum | cut -c1-16)
  local stamp=$bin/.$name.key
  if [[ -f $stamp && $(cat "$stamp") == "$key" ]] && all_exist "$bin" $binaries; then
    return 0
  fi
  local slot=$cache/$name-$key
  if ! all_exist "$slot" $binaries; then
    echo "tools: building $binaries from the $(basename "$dir") pins (cold, this is the long step; progress every 30 s)" >&2
    local start=$SECONDS
    rm -rf "$slot.tmp" && mkdir -p "$slot.tmp"
    "$root/test/tools/progress.sh" "tools: $name" "$dir" -ldflags "$ldflags" -o "$slot.tmp/" "$@"
    rm -rf "$slot" && mv "$slot.tmp" "$slot"
    echo "tools: built $name in $((SECONDS - start))s" >&2
  fi
  for b in $binaries; do
    cp -f "$slot/$b" "$bin/$b.tmp" && mv -f "$bin/$b.tmp" "$bin/$b"
  done
  echo "$key" >"$stamp"
}

all_exist() {
  local dir=$1
  shift
  for b in "$@"; do [[ -x $dir/$b ]] || return 1; done
}

sets=("$@")
((${#sets[@]})) || sets=(etcd kubernetes helm promrules lint)
for set in "${sets[@]}"; do
  case $set in
  etcd) build_set etcd etcd "-s -w" "etcd" . ;;
  # One go build for the four commands, so that they share one compile of the package graph.
  kubernetes) build_set kubernetes kubernetes "$k8s_ldflags" "kube-apiserver kube-controller-manager kube-proxy kubectl" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl ;;
  helm) build_set helm helm "$helm_ldflags" "helm" helm.sh/helm/v4/cmd/helm ;;
  # Prometheus's rule parser, PromQL engine and TSDB, for the alert tests (test/e2e/alerts).
  promrules) build_set promrules promrules "-s -w" "promrules" . ;;
  lint) build_set lint lint "" "staticcheck" honnef.co/go/tools/cmd/staticcheck ;;
  *) echo "tools: unknown set $set (etcd, kubernetes, helm, promrules, lint)" >&2; exit 2 ;;
  esac
done
