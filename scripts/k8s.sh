#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# k8s.sh builds, starts and stops a real Kubernetes control plane for Vigil's
# end-to-end tests: etcd and kube-apiserver on 127.0.0.1, plus kubectl. There
# is no kubelet, controller-manager or scheduler: objects are stored, admitted,
# defaulted and authorized for real, but no pod runs.
#
# Everything is built from the Go module proxy into a cache outside the work
# tree, keyed by name and version (as scripts/backends.sh does):
#   ${VIGIL_CACHE:-$HOME/.cache/vigil}/kubernetes-<version>/{kube-apiserver,kubectl}
#   ${VIGIL_CACHE:-$HOME/.cache/vigil}/etcd-<version>/etcd
# (VIGIL_K8S_CACHE instead of VIGIL_CACHE, when set).
# Running state (certificates, tokens, etcd data, logs, PIDs) lives under
#   ${VIGIL_RUN:-/tmp/vigil-bench}/k8s/
#
# Usage: scripts/k8s.sh install|start|stop|clean|status|env
#   install  build the binaries (once per version)
#   start    start etcd, then kube-apiserver, and wait for /readyz
#   stop     stop kube-apiserver, then etcd (keeps the data)
#   clean    stop and delete the running state
#   status   say what runs
#   env      print shell assignments: kubeconfigs, server, binaries, tokens
#
# Identities (static token file, read at start):
#   admin                                        group system:masters
#   system:serviceaccount:$NS:$AGENT_SA          the chart's agent account
#   system:serviceaccount:$NS:$GATEWAY_SA        the chart's gateway account
# with NS=${VIGIL_K8S_NAMESPACE:-vigil-e2e}, AGENT_SA=${VIGIL_K8S_AGENT_SA:-vigil}
# and GATEWAY_SA=${VIGIL_K8S_GATEWAY_SA:-vigil-gateway} (release "vigil" of
# deploy/helm/vigil in that namespace). The tokens authenticate the names;
# what they may do is decided by RBAC, i.e. by the chart's (Cluster)Roles.
#
# Service accounts: with no controller-manager nobody creates a namespace's
# `default` ServiceAccount. The ServiceAccount admission plugin stays enabled
# (pods are admitted as in a real cluster); `start` creates `default` in the
# namespaces that exist at start and in $NS, and a test that creates another
# namespace for pods creates its `default` account itself.
set -euo pipefail

KUBE_VERSION=${VIGIL_KUBE_VERSION:-1.37.2}   # k8s.io/kubernetes v1.37.2, staging modules v0.37.2
ETCD_VERSION=${VIGIL_ETCD_VERSION:-3.7.3}    # go.etcd.io/etcd/server/v3 v3.7.3

# VIGIL_K8S_CACHE, when set, keeps the control plane apart from the
# backends' cache (e.g. a build that must not warm a cold CI run's cache).
CACHE=${VIGIL_K8S_CACHE:-${VIGIL_CACHE:-$HOME/.cache/vigil}}
RUN=${VIGIL_RUN:-/tmp/vigil-bench}
DIR=$RUN/k8s

# Ports: not etcd's usual 2379/2380 nor 6443, so that a developer's own
# cluster tools on this host are never hit.
ETCD_CLIENT_PORT=${VIGIL_ETCD_CLIENT_PORT:-22379}
ETCD_PEER_PORT=${VIGIL_ETCD_PEER_PORT:-22380}
APISERVER_PORT=${VIGIL_APISERVER_PORT:-16443}

NS=${VIGIL_K8S_NAMESPACE:-vigil-e2e}
AGENT_SA=${VIGIL_K8S_AGENT_SA:-vigil}
GATEWAY_SA=${VIGIL_K8S_GATEWAY_SA:-vigil-gateway}

log() { printf '%s k8s: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kube_dir()      { echo "$CACHE/kubernetes-$KUBE_VERSION"; }
apiserver_bin() { echo "$(kube_dir)/kube-apiserver"; }
kubectl_bin()   { echo "$(kube_dir)/kubectl"; }
etcd_bin()      { echo "$CACHE/etcd-$ETCD_VERSION/etcd"; }

# The heaviest build of a cold CI run (kube-apiserver: ~1,000 CPU-s, 2.3 GiB
# peak with one package at a time). It compiles as many packages at once as
# there are CPUs (about 1 GB more peak at 2); a machine shared with other work
# may set VIGIL_K8S_BUILD_P=1, or run it under nice. It is the first build
# scripts/test.sh starts, at full priority, since it is the longest.
GOBUILD=(env CGO_ENABLED=0 GOFLAGS="-mod=mod -p=${VIGIL_K8S_BUILD_P:-$(nproc)}" go build -trimpath)

# timed runs a command and logs its wall and CPU time and the peak RSS of
# its largest process (GNU time; the link step for the apiserver).
timed() { # label cmd...
  local label=$1; shift
  local rc=0 t; t=$(mktemp)
  /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" || rc=$?
  local wall user sys rss; read -r wall user sys rss < <(tail -1 "$t")
  log "$label: ${wall}s wall, ${user}s user + ${sys}s sys CPU, peak RSS $(( rss / 1024 )) MiB (exit $rc)"
  rm -f "$t"; return $rc
}

install_kube() {
  local dir; dir=$(kube_dir)
  if [ -x "$(apiserver_bin)" ] && [ -x "$(kubectl_bin)" ]; then log "kubernetes $KUBE_VERSION cached"; return; fi
  log "building kube-apiserver and kubectl $KUBE_VERSION (cold: ~8 min CPU, ~1.8 GB peak)"
  local minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  local staging=v0.${KUBE_VERSION#*.}
  local gomod; gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$gomod" ] || die "go mod download k8s.io/kubernetes@v$KUBE_VERSION gave no go.mod"

  # The wrapper module: kubernetes itself replaces its staging modules with
  # ./staging/src/k8s.io/<name>, which a module consumer cannot see, so each
  # one is replaced by its published release of the same Kubernetes version.
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-k8s-build.XXXXXX")
  {
    echo "module vigil.invalid/k8sbuild"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod"
    sed -n 's/^godebug \(.*\)$/godebug \1/p' "$gomod"
    echo
    echo "require k8s.io/kubernetes v$KUBE_VERSION"
    echo
    echo "replace ("
    sed -n '/^replace (/,/^)/p' "$gomod" |
      awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }'
    echo ")"
  } >"$work/go.mod"
  local n; n=$(grep -c '=> k8s.io/' "$work/go.mod")
  log "wrapper module replaces $n staging modules with $staging"

  # The version ldflags of kubernetes' hack/lib/version.sh, for the server
  # (component-base) and for client-go, so that /version says v$KUBE_VERSION.
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$dir"
  (cd "$work" && timed "kube-apiserver build" "${GOBUILD[@]}" -ldflags "-s -w $ld" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) ||
    { rm -rf "$work"; die "kube-apiserver $KUBE_VERSION does not build"; }
  (cd "$work" && timed "kubectl build" "${GOBUILD[@]}" -ldflags "-s -w $ld" -o "$dir/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl) ||
    { rm -rf "$work"; die "kubectl $KUBE_VERSION does not build"; }
  mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
  mv "$dir/kubectl.tmp" "$dir/kubectl"
  rm -rf "$work"
  log "installed $dir/{kube-apiserver,kubectl}: $("$dir/kubectl" version --client 2>/dev/null | head -1)"
}

install_etcd() {
  local bin; bin=$(etcd_bin)
  if [ -x "$bin" ]; then log "etcd $ETCD_VERSION cached"; return; fi
  log "building etcd $ETCD_VERSION"
  # `go install` refuses go.etcd.io/etcd/server/v3 because its go.mod has
  # replace directives; a wrapper module that requires it builds its main
  # package (server/v3/main.go) with the requirements resolved normally.
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-etcd-build.XXXXXX")
  printf 'module vigil.invalid/etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$work/go.mod"
  mkdir -p "$(dirname "$bin")"
  (cd "$work" && timed "etcd build" "${GOBUILD[@]}" -ldflags "-s -w" -o "$bin.tmp" go.etcd.io/etcd/server/v3) ||
    { rm -rf "$work"; die "etcd $ETCD_VERSION does not build"; }
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
  log "installed $bin"
}

# install_all takes a lock in the cache, so that a second install (another
# shell, CI beside a developer) waits for the first and then finds the
# binaries cached instead of building them again (as scripts/lib.sh's
# run_steps does for the backends).
install_all() {
  local lock
  mkdir -p "$CACHE"
  exec {lock}>"$CACHE/.install-k8s.lock"
  flock "$lock"
  install_etcd
  install_kube
  exec {lock}>&-
}

running() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# make_pki writes a CA, a serving certificate for 127.0.0.1/localhost, the
# service-account signing key pair and the token file, once per run dir.
make_pki() {
  local pki=$DIR/pki
  [ -f "$pki/tokens.csv" ] && return
  mkdir -p "$pki"; chmod 700 "$pki"
  log "making the CA, serving certificate, service-account keys and tokens"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vigil-e2e-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  local admin agent gateway
  admin=$(openssl rand -hex 24); agent=$(openssl rand -hex 24); gateway=$(openssl rand -hex 24)
  {
    echo "$admin,admin,admin,\"system:masters\""
    echo "$agent,system:serviceaccount:$NS:$AGENT_SA,agent-uid,\"system:serviceaccounts,system:serviceaccounts:$NS,system:authenticated\""
    echo "$gateway,system:serviceaccount:$NS:$GATEWAY_SA,gateway-uid,\"system:serviceaccounts,system:serviceaccounts:$NS,system:authenticated\""
  } >"$pki/tokens.csv"
  chmod 600 "$pki"/*
  write_kubeconfig admin "$admin"
  write_kubeconfig agent "$agent"
  write_kubeconfig gateway "$gateway"
}

write_kubeconfig() { # name token
  cat >"$DIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vigil-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1
  context: {cluster: vigil-e2e, user: $1}
current-context: $1
EOF
  chmod 600 "$DIR/$1.kubeconfig"
}

start_etcd() {
  running etcd && { log "etcd already running"; return; }
  port_free "$ETCD_CLIENT_PORT" || die "127.0.0.1:$ETCD_CLIENT_PORT is taken (set VIGIL_ETCD_CLIENT_PORT)"
  port_free "$ETCD_PEER_PORT" || die "127.0.0.1:$ETCD_PEER_PORT is taken (set VIGIL_ETCD_PEER_PORT)"
  mkdir -p "$DIR/etcd-data"; chmod 700 "$DIR/etcd-data"
  local peer=http://127.0.0.1:$ETCD_PEER_PORT client=http://127.0.0.1:$ETCD_CLIENT_PORT
  setsid "$(etcd_bin)" --name vigil-e2e --data-dir "$DIR/etcd-data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "vigil-e2e=$peer" --initial-cluster-state new \
    --log-level warn >"$DIR/etcd.log" 2>&1 </dev/null &
  echo $! >"$DIR/etcd.pid"
  local i
  for i in $(seq 1 100); do
    curl -fsS "$client/health" 2>/dev/null | grep -q '"health":"true"' && { log "etcd up on $client"; return; }
    running etcd || { tail -20 "$DIR/etcd.log" >&2; die "etcd exited"; }
    sleep 0.2
  done
  tail -20 "$DIR/etcd.log" >&2; die "etcd not healthy after 20s"
}

start_apiserver() {
  running kube-apiserver && { log "kube-apiserver already running"; return; }
  port_free "$APISERVER_PORT" || die "127.0.0.1:$APISERVER_PORT is taken (set VIGIL_APISERVER_PORT)"
  local pki=$DIR/pki t0; t0=$(date +%s%N)
  # --allow-privileged: the chart's agent.kernel.privileged option renders a
  # privileged container, which real clusters (kubeadm, kind, GKE) allow.
  # --endpoint-reconciler-type=none: there is one apiserver and nothing to
  # reconcile into the `kubernetes` Endpoints.
  setsid "$(apiserver_bin)" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=RBAC \
    --endpoint-reconciler-type=none \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=true \
    --profiling=false \
    >"$DIR/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$DIR/kube-apiserver.pid"
  local i
  for i in $(seq 1 600); do
    if curl -fsS --cacert "$pki/ca.crt" "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -q '^ok$'; then
      log "kube-apiserver ready on https://127.0.0.1:$APISERVER_PORT after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      return
    fi
    running kube-apiserver || { tail -30 "$DIR/kube-apiserver.log" >&2; die "kube-apiserver exited"; }
    sleep 0.2
  done
  tail -30 "$DIR/kube-apiserver.log" >&2; die "kube-apiserver not ready after 120s"
}

# default_service_accounts does the controller-manager's job for the
# namespaces the tests use: every namespace has a `default` ServiceAccount.
default_service_accounts() {
  local k=(env KUBECONFIG="$DIR/admin.kubeconfig" "$(kubectl_bin)")
  "${k[@]}" get namespace "$NS" >/dev/null 2>&1 || "${k[@]}" create namespace "$NS" >/dev/null
  local ns
  for ns in $("${k[@]}" get namespaces -o 'jsonpath={.items[*].metadata.name}'); do
    "${k[@]}" -n "$ns" get serviceaccount default >/dev/null 2>&1 ||
      "${k[@]}" -n "$ns" create serviceaccount default >/dev/null
  done
}

start_all() {
  [ -x "$(etcd_bin)" ] && [ -x "$(apiserver_bin)" ] && [ -x "$(kubectl_bin)" ] || die "binaries missing: run $0 install"
  mkdir -p "$DIR"; chmod 700 "$DIR"
  make_pki
  start_etcd
  start_apiserver
  default_service_accounts
}

stop_one() { # name
  running "$1" || { rm -f "$DIR/$1.pid"; return; }
  local pid; pid=$(cat "$DIR/$1.pid")
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/$1.pid"
  log "$1 stopped"
}

# The apiserver goes first: stopped after etcd it would log storage errors
# until killed.
stop_all() { stop_one kube-apiserver; stop_one etcd; }

status_all() {
  local n
  for n in etcd kube-apiserver; do
    if running "$n"; then echo "$n running (pid $(cat "$DIR/$n.pid"))"; else echo "$n stopped"; fi
  done
}

env_all() {
  cat <<EOF
KUBECONFIG=$DIR/admin.kubeconfig
VIGIL_K8S_SERVER=https://127.0.0.1:$APISERVER_PORT
VIGIL_K8S_CA=$DIR/pki/ca.crt
VIGIL_K8S_ADMIN_KUBECONFIG=$DIR/admin.kubeconfig
VIGIL_K8S_AGENT_KUBECONFIG=$DIR/agent.kubeconfig
VIGIL_K8S_GATEWAY_KUBECONFIG=$DIR/gateway.kubeconfig
VIGIL_K8S_NAMESPACE=$NS
VIGIL_K8S_AGENT_SA=$AGENT_SA
VIGIL_K8S_GATEWAY_SA=$GATEWAY_SA
VIGIL_KUBECTL=$(kubectl_bin)
VIGIL_KUBE_APISERVER=$(apiserver_bin)
VIGIL_ETCD=$(etcd_bin)
VIGIL_KUBE_VERSION=v$KUBE_VERSION
EOF
}

case "${1:-}" in
  install) install_all ;;
  start) start_all ;;
  stop) stop_all ;;
  clean) stop_all; rm -rf "$DIR"; log "removed $DIR" ;;
  status) status_all ;;
  env) env_all ;;
  *) echo "usage: $0 install|start|stop|clean|status|env" >&2; exit 2 ;;
esac
