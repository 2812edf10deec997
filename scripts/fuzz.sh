#!/usr/bin/env bash
# Runs each fuzz target given as PKG:Target:BUDGET. BUDGET is a count of
# executions (e.g. 100000x), sized per target to about ten seconds on a
# 2-core machine. FUZZTIME, when set, replaces every target's budget
# (a count, or a duration such as 60s for a longer local run).
#
# Counts rather than durations: Go's fuzzing coordinator (go1.26) can
# report its own -fuzztime deadline as "context deadline exceeded", a
# failure with no crasher, when a loaded machine delays a worker at the
# deadline (golang/go#75804). A count has no deadline to race.
#
# A failure prints the fuzzer's output. A crasher is saved under the
# package's testdata/fuzz and fails again on the retry; a failure
# without one is retried once and reported.
set -uo pipefail
status=0
for t in "$@"; do
	pkg=${t%%:*}
	rest=${t#*:}
	name=${rest%%:*}
	budget=${rest#*:}
	if [ "$budget" = "$rest" ]; then
		echo "fuzz.sh: $t: want PKG:Target:BUDGET" >&2
		exit 2
	fi
	budget=${FUZZTIME:-$budget}
	echo "fuzz $name ($budget)"
	log=$(mktemp)
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg" >"$log" 2>&1; then
		echo "fuzz $name failed:" >&2
		grep -v '^fuzz: elapsed' "$log" >&2
		echo "fuzz $name: retrying once" >&2
		if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg" >"$log" 2>&1; then
			grep -v '^fuzz: elapsed' "$log" >&2
			status=1
		fi
	fi
	rm -f "$log"
done
exit $status
