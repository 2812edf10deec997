#!/usr/bin/env bash
# Runs each fuzz target given as PKG:Target for FUZZTIME (default 10s).
# A failure prints the fuzzer's output. A crasher is saved under the
# package's testdata/fuzz and fails again on the retry; a run that fails
# without one (the fuzzing engine's own worker timeouts under load) is
# retried once and reported.
set -uo pipefail
fuzztime=${FUZZTIME:-10s}
status=0
for t in "$@"; do
	pkg=${t%%:*}
	name=${t#*:}
	echo "fuzz $name ($fuzztime)"
	log=$(mktemp)
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
		echo "fuzz $name failed:" >&2
		grep -v '^fuzz: elapsed' "$log" >&2
		echo "fuzz $name: retrying once" >&2
		if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			grep -v '^fuzz: elapsed' "$log" >&2
			status=1
		fi
	fi
	rm -f "$log"
done
exit $status
