#!/usr/bin/env bash
# Build the binaries of gopipe's Kubernetes test control plane from Go modules only.
#
# Why: nothing but package registries is reachable, so kube-apiserver & co. cannot be
# downloaded as release binaries; they are compiled from the k8s.io/kubernetes module
# through a generated wrapper module (see docs/k8s-testenv.md). Results are cached per
# version, so a second run with everything present is a few file tests (< 1 s).
#
# Usage: scripts/k8s/build.sh            build what is missing, then print KEY=VALUE paths
#        scripts/k8s/build.sh --print    only print KEY=VALUE paths (no build)
# Build logs go to stderr; stdout carries only the KEY=VALUE lines.
set -euo pipefail

# ---- pinned versions: the one place to change them ---------------------------------
K8S_VERSION="v1.34.4"   # apiserver, controller-manager, scheduler, kubectl: newest 1.34
                        # patch served; 1.34 is the line this recipe is known to build
KWOK_VERSION="v0.8.0"   # sigs.k8s.io/kwok: fake kubelets
HELM_VERSION="v3.19.5"  # helm.sh/helm/v3: built against k8s.io/client-go v0.34.x
ETCD_VERSION="v3.6.16"  # go.etcd.io/etcd/server/v3: k8s 1.34 ships etcd 3.6; Debian's 3.4.23
                        # runs but lacks RequestWatchProgress (apiserver degrades)
# ------------------------------------------------------------------------------------

CACHE="${GOPIPE_TESTENV_CACHE:-$HOME/.cache/gopipe-testenv}"
K8S_BIN="$CACHE/k8s/$K8S_VERSION/bin"
KWOK_BIN="$CACHE/kwok/$KWOK_VERSION/bin"
HELM_BIN="$CACHE/helm/$HELM_VERSION/bin"
ETCD_BIN="$CACHE/etcd/$ETCD_VERSION/bin"
K8S_TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
GO_BUILD_FLAGS=(-trimpath)

print_env() {
  cat <<EOF
K8S_VERSION=$K8S_VERSION
KWOK_VERSION=$KWOK_VERSION
HELM_VERSION=$HELM_VERSION
ETCD_VERSION=$ETCD_VERSION
CACHE=$CACHE
K8S_BIN=$K8S_BIN
KWOK_BIN=$KWOK_BIN
HELM_BIN=$HELM_BIN
ETCD_BIN=$ETCD_BIN
EOF
}

log() { printf '[k8s-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

have_k8s() { local t; for t in "${K8S_TOOLS[@]}"; do [[ -x "$K8S_BIN/$t" ]] || return 1; done; }
have_kwok() { [[ -x "$KWOK_BIN/kwok" ]]; }
have_helm() { [[ -x "$HELM_BIN/helm" ]]; }
have_etcd() { [[ -x "$ETCD_BIN/etcd" ]]; }
have_all() { have_k8s && have_kwok && have_helm && have_etcd; }

# Emit a wrapper go.mod that requires module $1@$2, whose own go.mod replaces sibling
# modules with local paths matching regex $3 (Go refuses `go install` for those). Go ignores
# a dependency's replaces, so each such module is pinned here to its published version $4.
# The `go` and `godebug` lines are copied verbatim (godebug changes runtime defaults).
write_wrapper_gomod() {
  local mod="$1" ver="$2" local_re="$3" pin="$4" upstream
  upstream="$(cd / && GOFLAGS=-mod=mod go list -m -f '{{.GoMod}}' "$mod@$ver")"
  [[ -s "$upstream" ]] || { log "cannot read go.mod of $mod@$ver"; return 1; }
  echo "module gopipe.local/testenv-wrapper"
  echo
  grep -E '^go [0-9]' "$upstream"
  # godebug can be a single line or a ( ... ) block.
  awk '/^godebug \(/{b=1} b{print} b&&/^\)/{b=0} /^godebug [^(]/{print}' "$upstream"
  echo
  echo "require $mod $ver"
  echo
  echo "replace ("
  sed -E 's/^replace[[:space:]]+//' "$upstream" \
    | grep -E "^[[:space:]]*[^[:space:]]+ => ${local_re}" \
    | awk -v v="$pin" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
}

# Build main packages $3.. of module $1@$2 through a wrapper module in $src into $out.
wrapper_build() {
  local src="$1" out="$2" ldflags="$3"; shift 3
  log "resolving modules in $src"
  (cd "$src" && go get "$@" >&2)
  log "building ${*%@*} (slow on a cold Go build cache)"
  (cd "$src" && go build "${GO_BUILD_FLAGS[@]}" -ldflags="$ldflags" -o "$out/" "${@%@*}")
}

build_k8s() {
  have_k8s && return 0
  local src="$CACHE/k8s/$K8S_VERSION/src" out="$CACHE/k8s/$K8S_VERSION/bin.tmp"
  local minor="${K8S_VERSION#v1.}" v=k8s.io/component-base/version ldflags pkgs=() t
  minor="${minor%%.*}"
  rm -rf "$src" "$out"; mkdir -p "$src" "$out"
  # Staging modules k8s.io/api etc. are published as v0.N.M for Kubernetes v1.N.M.
  write_wrapper_gomod k8s.io/kubernetes "$K8S_VERSION" '\./staging/' "v0.${K8S_VERSION#v1.}" \
    >"$src/go.mod"
  for t in "${K8S_TOOLS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$t@$K8S_VERSION"); done
  # Without these, /version reports v0.0.0-master and version skew checks misbehave.
  ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
  ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  wrapper_build "$src" "$out" "$ldflags" "${pkgs[@]}"
  rm -rf "$K8S_BIN"; mv "$out" "$K8S_BIN"
}

build_etcd() {
  have_etcd && return 0
  local src="$CACHE/etcd/$ETCD_VERSION/src" out="$CACHE/etcd/$ETCD_VERSION/bin.tmp"
  local v=go.etcd.io/etcd/api/v3/version
  rm -rf "$src" "$out"; mkdir -p "$src" "$out"
  # etcd's sibling modules (api, client, pkg) share the server's version.
  write_wrapper_gomod go.etcd.io/etcd/server/v3 "$ETCD_VERSION" '\.\./' "$ETCD_VERSION" \
    >"$src/go.mod"
  wrapper_build "$src" "$out" "-s -w -X $v.GitSHA=release" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  mv "$out/v3" "$out/etcd" 2>/dev/null || mv "$out/server" "$out/etcd"
  rm -rf "$ETCD_BIN"; mv "$out" "$ETCD_BIN"
}

# go install a plain module (no replace directives) into its versioned bin dir.
go_install() {
  local bin="$1" pkg="$2" ldflags="$3" out="$1.tmp"
  rm -rf "$out"; mkdir -p "$out"
  log "building $pkg"
  GOBIN="$out" go install "${GO_BUILD_FLAGS[@]}" -ldflags="$ldflags" "$pkg"
  rm -rf "$bin"; mv "$out" "$bin"
}

build_kwok() {
  have_kwok && return 0
  go_install "$KWOK_BIN" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

build_helm() {
  have_helm && return 0
  go_install "$HELM_BIN" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
}

main() {
  if [[ "${1:-}" == "--print" ]]; then print_env; return 0; fi
  if ! have_all; then
    command -v go >/dev/null || { log "go is not on PATH"; return 1; }
    mkdir -p "$CACHE"
    # One builder at a time (pytest-xdist workers may all call this script).
    exec 9>"$CACHE/.build.lock"
    flock 9
    local start=$SECONDS
    build_k8s; build_etcd; build_kwok; build_helm
    log "done in $((SECONDS - start)) s"
  fi
  print_env
}

main "$@"; exit  # one line: bash must not read on if this file changes mid-build
