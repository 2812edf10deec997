#!/usr/bin/env bash
# Installs what eipgw's demo and tests run against, when absent:
#   influxd   InfluxDB OSS 1.8.10, built from its Go module into .tools/bin
#   mosquitto the MQTT broker, from Debian's packages (needs root)
#   modbus    third-party Modbus peers for the interoperability tests, from
#             Debian's packages: python3-pymodbus, mbpoll, socat, libmodbus5
#   telegraf  Telegraf v1.37.2 with only the plugins make bench compares with,
#             built from its Go module into .tools/bin (asked for by make bench,
#             not installed by default)
#   chromium  a headless browser for the status pages' browser test, from
#             Debian's packages
#   opcua     the third-party OPC UA server of the OPC UA driver's tests:
#             node-opcua 2.182.2 (npm, MIT) into .tools/node, with node and
#             npm from Debian's packages when absent
#   poppler   pdftoppm (Debian's poppler-utils), with which the audit report's
#             test turns the PDF's first page into an image
# Usage: scripts/tools.sh [influxd] [mosquitto] [modbus] [chromium] [opcua] [poppler]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(influxd mosquitto modbus chromium opcua poppler)

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		echo "tools: $* missing and not root: install with 'sudo apt-get install $*'" >&2
		return 1
	fi
	if [ -z "${apt_updated:-}" ]; then
		apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for tool in "${want[@]}"; do
	case $tool in
	influxd)
		if [ ! -x "$root/.tools/bin/influxd" ]; then
			echo "tools: building influxd 1.8.10 into .tools/bin (a few minutes, once)" >&2
			GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10
		fi
		;;
	mosquitto)
		if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
			echo "tools: installing mosquitto from Debian's packages" >&2
			apt_install mosquitto
			# The package starts a system broker on port 1883; the tests and
			# the demo run their own.
			if command -v systemctl >/dev/null; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
		fi
		;;
	modbus)
		missing=()
		/usr/bin/python3 -c 'import pymodbus, serial, serial_asyncio' 2>/dev/null || missing+=(python3-pymodbus python3-serial python3-serial-asyncio)
		command -v mbpoll >/dev/null || missing+=(mbpoll)
		command -v socat >/dev/null || missing+=(socat)
		[ -e /usr/lib/x86_64-linux-gnu/libmodbus.so.5 ] || ldconfig -p | grep -q libmodbus.so.5 || missing+=(libmodbus5)
		if [ ${#missing[@]} -gt 0 ]; then
			echo "tools: installing ${missing[*]} from Debian's packages" >&2
			apt_install "${missing[@]}"
		fi
		;;
	chromium)
		if ! command -v chromium >/dev/null; then
			echo "tools: installing chromium from Debian's packages" >&2
			apt_install chromium
		fi
		;;
	telegraf)
		if [ ! -x "$root/.tools/bin/telegraf" ]; then
			echo "tools: building telegraf v1.37.2 (modbus, mqtt, influxdb_v2 plugins) into .tools/bin (a few minutes, once)" >&2
			GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install \
				-tags custom,inputs.modbus,outputs.mqtt,inputs.mqtt_consumer,outputs.influxdb_v2,serializers.influx,parsers.influx \
				github.com/influxdata/telegraf/cmd/telegraf@v1.37.2
		fi
		;;
	opcua)
		if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
			echo "tools: installing nodejs and npm from Debian's packages" >&2
			apt_install nodejs npm
		fi
		if [ ! -f "$root/.tools/node/node_modules/node-opcua/package.json" ]; then
			echo "tools: installing node-opcua 2.182.2 into .tools/node" >&2
			npm install --silent --no-audit --no-fund --prefix "$root/.tools/node" node-opcua@2.182.2 >/dev/null
		fi
		;;
	poppler)
		if ! command -v pdftoppm >/dev/null; then
			echo "tools: installing poppler-utils (for pdftoppm) from Debian's packages" >&2
			apt_install poppler-utils
		fi
		;;
	systemd)
		if ! command -v systemd-analyze >/dev/null; then
			echo "tools: installing systemd (for systemd-analyze) from Debian's packages" >&2
			apt_install systemd
		fi
		;;
	*)
		echo "tools: unknown tool $tool" >&2
		exit 2
		;;
	esac
done
