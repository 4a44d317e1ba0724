#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager)
# from the Go module proxy, pinned by scripts/kubeenv/go.mod and go.sum, and
# caches the binaries keyed on those two files and the Go version: a warm run
# costs a second. Prints the directory that holds the three binaries.
#
#   scripts/kube-testenv.sh            build or reuse; print the directory
#
# The Kubernetes tests find the binaries through GEARSHIFT_KUBE_ASSETS, which
# `make kube-testenv` (a dependency of `make test`) sets for them.
set -euo pipefail
cd "$(dirname "$0")/kubeenv"
GO=${GO:-go}
key=$( { cat go.mod go.sum; "$GO" version; } | sha256sum | cut -c1-16)
cache=${GEARSHIFT_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gearshift/kube}
dir=$cache/$key
mkdir -p "$cache"
# One build at a time: test binaries of several packages may ask at once.
exec 9>"$cache/.lock"
flock 9
if [[ -x $dir/etcd && -x $dir/kube-apiserver && -x $dir/kube-controller-manager ]]; then
	echo "$dir"
	exit 0
fi
version=$(GOFLAGS=-mod=mod "$GO" list -m -f "{{.Version}}" k8s.io/kubernetes)
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
echo "kube-testenv: building etcd, kube-apiserver and kube-controller-manager $version (minutes on a cold cache)" >&2
export CGO_ENABLED=0 GOFLAGS=-mod=mod
"$GO" build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
"$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
echo "kube-testenv: built in $((SECONDS - start)) s" >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
