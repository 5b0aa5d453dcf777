# Shell helpers to run a Neutrino server for the compatibility suites (sourced, not run).
# start_server DIR CONFIG_EXTRA: builds the binary, writes DIR/neutrino.toml, starts the server
# on a free loopback port, waits until it answers, and sets NEUTRINO_URL and SERVER_PID.

neutrino_bin() {
  cargo build --quiet --locked --bin neutrino >&2
  echo "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/neutrino"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  local dir=$1 extra=${2:-}
  local port bin
  port=$(free_port)
  bin=$(neutrino_bin)
  mkdir -p "$dir"
  cat > "$dir/neutrino.toml" <<CONF
[server]
bind = "127.0.0.1:$port"
data_dir = "$dir"
$extra
CONF
  "$bin" server --config "$dir/neutrino.toml" > "$dir/server.log" 2>&1 &
  SERVER_PID=$!
  NEUTRINO_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -sf "$NEUTRINO_URL/" >/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$dir/server.log" >&2; return 1; fi
    sleep 0.1
  done
  echo "server did not start; log:" >&2; cat "$dir/server.log" >&2; return 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
}

# venv DIR REQUIREMENT...: a Python virtual environment with the given packages.
venv() {
  local dir=$1; shift
  if [ ! -x "$dir/bin/python" ]; then python3 -m venv "$dir"; fi
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
}
