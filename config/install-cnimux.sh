#!/bin/sh
# The DaemonSet's entrypoint: installs cnimux, cnimux-ipam and the in-tree delegates into the
# host's CNI bin dir (cnimuxctl stays in the image: `kubectl exec` it),
# writes the kubeconfig cnimux uses and the node's conflist, then keeps the token fresh.
# Every file is written to a temporary name and renamed into place, so the runtime never
# executes a half-copied binary nor reads a half-written config.
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

log() { echo "install-cnimux: $*" >&2; }

# Copies $1 to $2 through a temporary file in the same directory, then renames it.
replace_file() {
  tmp="$(dirname "$2")/.$(basename "$2").tmp.$$"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
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
  cat >"$dir/.cnimux.kubeconfig.tmp" <<EOF
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
  chmod 0600 "$dir/.cnimux.kubeconfig.tmp"
  mv -f "$dir/.cnimux.kubeconfig.tmp" "$dir/cnimux.kubeconfig"
  log "wrote $dir/cnimux.kubeconfig"
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
    if ! cmp -s "$SA_DIR/token" "$CONF_DIR/cnimux.d/token"; then
      replace_file "$SA_DIR/token" "$CONF_DIR/cnimux.d/token" 0600
      log "service account token refreshed"
    fi
  done
}

install_binaries
write_kubeconfig
write_conflist
[ "$ONCE" = true ] || refresh_token_forever
