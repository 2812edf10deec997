#!/usr/bin/env bash
# Runs the demo park end to end on this machine: builds InfluxDB 1.8.10 into
# .tools/bin if absent, starts it with its data under .demo/influxdb, builds
# eipgw and runs `eipgw demo` (simulator, embedded broker, edge, ingest).
# Ctrl-C stops eipgw cleanly, then InfluxDB.
# Environment: EIPGW_INFLUX_PORT (default 8086), extra flags are passed to
# `eipgw demo`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/tools.sh" influxd

port=${EIPGW_INFLUX_PORT:-8086}
data="$root/.demo/influxdb"
mkdir -p "$data"
cat >"$root/.demo/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((port + 2))"
[meta]
  dir = "$data/meta"
[data]
  dir = "$data/data"
  wal-dir = "$data/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
  flux-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
CONF

echo "demo: building eipgw" >&2
go build -o "$root/.tools/bin/eipgw" ./cmd/eipgw

echo "demo: starting InfluxDB 1.8.10 on 127.0.0.1:$port (data in .demo/influxdb, log in .demo/influxd.log)" >&2
# In its own session, so that Ctrl-C reaches eipgw first and InfluxDB is
# stopped only after eipgw has written everything.
setsid "$root/.tools/bin/influxd" run -config "$root/.demo/influxdb.conf" >"$root/.demo/influxd.log" 2>&1 &
influx_pid=$!
stop_influx() {
	kill -TERM "$influx_pid" 2>/dev/null || true
	wait "$influx_pid" 2>/dev/null || true
	echo "demo: InfluxDB stopped" >&2
}
trap stop_influx EXIT

for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	if ! kill -0 "$influx_pid" 2>/dev/null; then
		echo "demo: InfluxDB exited; see .demo/influxd.log:" >&2
		tail -n 20 "$root/.demo/influxd.log" >&2
		exit 1
	fi
	sleep 0.1
done

"$root/.tools/bin/eipgw" demo -influx-url "http://127.0.0.1:$port" -bucket eipgw/autogen \
	-create-database -state-dir "$root/.demo/state" "$@" &
demo_pid=$!
trap 'kill -INT "$demo_pid" 2>/dev/null || true' INT TERM
status=0
wait "$demo_pid" || status=$?
# wait returns early when a trapped signal arrives: wait for the real exit.
while kill -0 "$demo_pid" 2>/dev/null; do wait "$demo_pid" || status=$?; done
exit "$status"
