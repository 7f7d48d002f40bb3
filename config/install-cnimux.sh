#!/bin/sh
# The DaemonSet's entrypoint: installs cnimux, cnimux-ipam and the in-tree delegates into the
# host's CNI bin dir, and cnimuxctl beside their libraries in cnimux.d/ (the bundle is linked
# to load them from there, so it runs on the host, where the store and journals are); writes the kubeconfig cnimux uses and, once the cluster network's own config exists, the
# node's conflist; then keeps the token fresh. Every file is written to a fresh temporary
# name (mktemp: every container's installer is PID 1, so $$ would collide between the old and
# the new pod of a rolling update), synced and renamed into place, so the runtime never
# executes a half-copied binary nor reads a half-written config.
# Tested by test/unit/config/installer_test.cc against a fake host root.
set -eu

HOST=${CNIMUX_HOST_ROOT:-/host}
SRC=${CNIMUX_SOURCE_DIR:-/opt/cnimux}                  # the bundle inside the image
BIN_DIR=${CNIMUX_BIN_DIR:-$HOST/opt/cni/bin}
CONF_DIR=${CNIMUX_CONF_DIR:-$HOST/etc/cni/net.d}
CONFLIST=${CNIMUX_CONFLIST:-/etc/cnimux/00-cnimux.conflist}  # from the ConfigMap
SA_DIR=${CNIMUX_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
# Where cnimux, on the host, finds what this script writes into $CONF_DIR/cnimux.d.
HOST_CONF_DIR=${CNIMUX_HOST_CONF_DIR:-/etc/cni/net.d}
REFRESH_SECONDS=${CNIMUX_TOKEN_REFRESH_SECONDS:-60}
ONCE=${CNIMUX_INSTALL_ONCE:-false}
# What to wait for before writing the conflist: "" derives it from clusterNetwork; a host path
# waits for that file; "none" does not wait (docs/operations.md, "Install").
READY=${CNIMUX_CLUSTER_NETWORK_READY:-}
POLL_SECONDS=${CNIMUX_POLL_SECONDS:-1}

log() { echo "install-cnimux: $*" >&2; }

# A new, empty temporary file next to $1 (created exclusively: never a leftover or a link).
temp_for() {
  mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX"
}

# Moves the written temporary $1 over $2 with mode $3, its data on disk first.
commit_file() {
  chmod "$3" "$1"
  sync "$1"
  mv -f "$1" "$2"
}

# Copies $1 to $2 (mode $3) through a fresh temporary file in the same directory.
replace_file() {
  tmp=$(temp_for "$2")
  cat "$1" >"$tmp"
  commit_file "$tmp" "$2" "$3"
}

# The binaries and their libraries. A rename never disturbs a cnimux that is running: it
# keeps the old inode. New invocations see the new file at once.
install_binaries() {
  mkdir -p "$BIN_DIR/cnimux.d"
  if [ -d "$SRC/lib" ]; then
    mkdir -p "$BIN_DIR/cnimux.d/lib"
    for lib in "$SRC"/lib/*; do
      replace_file "$lib" "$BIN_DIR/cnimux.d/lib/$(basename "$lib")" 0755
    done
  fi
  for bin in cnimux cnimux-ipam cnimux-macvlan cnimux-ipvlan cnimux-host-device cnimux-sriov; do
    replace_file "$SRC/$bin" "$BIN_DIR/$bin" 0755
    log "installed $BIN_DIR/$bin"
  done
  # Not a CNI plugin, so not in the runtime's bin dir itself.
  replace_file "$SRC/cnimuxctl" "$BIN_DIR/cnimux.d/cnimuxctl" 0755
  log "installed $BIN_DIR/cnimux.d/cnimuxctl"
}

api_server() {
  host=${KUBERNETES_SERVICE_HOST:?KUBERNETES_SERVICE_HOST is not set}
  port=${KUBERNETES_SERVICE_PORT:-443}
  case "$host" in *:*) host="[$host]" ;; esac  # IPv6
  echo "https://$host:$port"
}

# The kubeconfig names the token by file, and cnimux re-reads it on every request, so the
# refresh loop below keeps a projected (expiring) token working.
write_kubeconfig() {
  dir="$CONF_DIR/cnimux.d"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  replace_file "$SA_DIR/ca.crt" "$dir/ca.crt" 0600
  replace_file "$SA_DIR/token" "$dir/token" 0600
  tmp=$(temp_for "$dir/cnimux.kubeconfig")
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: $(api_server)
      certificate-authority: $HOST_CONF_DIR/cnimux.d/ca.crt
users:
  - name: cnimux
    user:
      tokenFile: $HOST_CONF_DIR/cnimux.d/token
contexts:
  - name: cnimux
    context:
      cluster: local
      user: cnimux
current-context: cnimux
EOF
  commit_file "$tmp" "$dir/cnimux.kubeconfig" 0600
  log "wrote $dir/cnimux.kubeconfig"
}

# The clusterNetwork value of the conflist ("" when it uses delegates). Whitespace is dropped
# first, so that sed finds the key without a JSON parser in the image.
cluster_network() {
  tr -d ' \t\r\n' <"$CONFLIST" | sed -n 's/.*"clusterNetwork":"\([^"]*\)".*/\1/p'
}

# Whether a config in $CONF_DIR other than ours is named $1 (its "name" key).
named_config_exists() {
  for f in "$CONF_DIR"/*.conf "$CONF_DIR"/*.conflist "$CONF_DIR"/*.json; do
    [ -f "$f" ] || continue
    [ "$(basename "$f")" != 00-cnimux.conflist ] || continue
    tr -d ' \t\r\n' <"$f" | grep -qF "\"name\":\"$1\"" && return 0
  done
  return 1
}

# Whether the host path $1 (as cnimux sees it) exists: a file, or a directory with a config.
host_path_ready() {
  p="$HOST$1"
  [ -f "$p" ] && return 0
  [ -d "$p" ] || return 1
  for f in "$p"/*.conf "$p"/*.conflist; do [ -f "$f" ] && return 0; done
  return 1
}

# Blocks until the cluster network's own config exists. A conflist written before it would
# make the runtime report the node's network ready, and pods would be scheduled to a node
# whose every ADD fails (Multus's boot race).
wait_for_cluster_network() {
  case "$READY" in
    none) return 0 ;;
    /*) what=$READY ;;
    "")
      what=$(cluster_network)
      [ -n "$what" ] || return 0  # delegates: inline configs, nothing on disk to wait for
      ;;
    *) log "CNIMUX_CLUSTER_NETWORK_READY=$READY: want a host path or none"; exit 1 ;;
  esac
  n=0
  while :; do
    case "$what" in
      /*) host_path_ready "$what" && break ;;
      *) named_config_exists "$what" && break ;;
    esac
    [ $((n % 60)) -eq 0 ] &&
      log "waiting for the cluster network's config ($what) before writing the conflist"
    n=$((n + 1))
    sleep "$POLL_SECONDS"
  done
  log "the cluster network's config ($what) is there"
}

# Last, so that a runtime that picks the conflist up finds everything it names.
write_conflist() {
  replace_file "$CONFLIST" "$CONF_DIR/00-cnimux.conflist" 0644
  log "wrote $CONF_DIR/00-cnimux.conflist"
}

refresh_token_forever() {
  trap 'log "stopping; the installed files stay in place"; exit 0' TERM INT
  while :; do
    sleep "$REFRESH_SECONDS" &
    wait $! || true
    for f in token ca.crt; do
      if ! cmp -s "$SA_DIR/$f" "$CONF_DIR/cnimux.d/$f"; then
        replace_file "$SA_DIR/$f" "$CONF_DIR/cnimux.d/$f" 0600
        log "service account $f refreshed"
      fi
    done
  done
}

install_binaries
write_kubeconfig
wait_for_cluster_network
write_conflist
[ "$ONCE" = true ] || refresh_token_forever
