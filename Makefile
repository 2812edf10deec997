# eipgw make targets. `make demo` runs the demo park end to end; `make test`
# installs what the tests need and runs them. CI runs `make test` verbatim.
GO ?= go
SHELL := /bin/bash

.PHONY: demo test tools check fmt lint vet build clean faults fuzz bench dashboards audit-acceptance

demo:
	./scripts/demo.sh

# The fault scenarios' package alone runs several minutes on 2 cores;
# -timeout leaves room for a slow machine (go test's default is 10m).
test: tools vet
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) fuzz

# fuzz runs every fuzz target of the frame readers and decoders for a
# count of executions each, about ten seconds on 2 cores (their seed
# corpora already ran with the tests). FUZZTIME=60s (or 1000000x)
# replaces every budget.
FUZZTIME ?=
FUZZ_TARGETS = ./drivers/modbus:FuzzRTUResponse:10000x ./drivers/modbus:FuzzFindFrame:100000x \
	./drivers/modbus/modbusserver:FuzzServeRTU:3000x ./drivers/modbus/modbusserver:FuzzServerFrame:20000x \
	./drivers/modbus:FuzzDecode:100000x ./gateway/plumbing/batch:FuzzDecodeFastMatchesSlow:150000x \
	./gateway/ingest:FuzzAppendLineParsesBack:20000x ./gateway/plumbing/topic:FuzzParse:100000x \
	./drivers/opcua:FuzzDecimalInteger:50000x
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(FUZZ_TARGETS)

# bench prints the Modbus RTU throughput against the paced simulator: 125
# registers per read at 19200 and 115200 baud, as a fraction of the wire
# limit (target at least 90 %); then the per-value costs of the hot paths:
# polling over loopback TCP, batch encoding, WAL append, ingest decoding;
# then the end-to-end loads of docs/benchmarks.md (20 x 1000 and 40 x 5000
# float32 at 1 s through edge, Mosquitto, ingest and InfluxDB 1.8) beside
# Telegraf on the same load: values/s, CPU per value, peak RSS, latency,
# eipgw's over EIPGW_BENCH_REPEAT runs of each load (default 3) with each
# figure's median and range, and against the targets; the 20 x 1000 load
# once more with four RS-485 lines beside it (pseudo-terminals served at
# 19200 and 115200 baud), with each line's utilisation and RTU wire
# efficiency from the edge's metrics; then eipgw audit verify over a signed
# 24-hour run: seconds and CPU per simulated hour, a month projected, peak
# heap.
bench:
	$(GO) test -run '^$$' -bench 'RTURead125' -benchtime 40x ./drivers/modbus | grep -E 'Benchmark|^ok'
	$(GO) test -run '^$$' -bench 'PollTCP1000|AnswersToReadings|AppendJSON|AppendReadingsJSON|Append$$|DecodeAndLine|LinesAndPlan|StatusLastReadingsSet|AppendShortest|Strconv|PayloadHash|Seal|Verify' -benchmem ./drivers/modbus ./gateway/plumbing/batch ./gateway/plumbing/batch/internal/f32 ./gateway/plumbing/wal ./gateway/ingest ./gateway/edge ./gateway/plumbing/evidence | grep -E 'Benchmark|^ok'
	./scripts/tools.sh influxd mosquitto telegraf
	set -o pipefail; $(GO) test -run '^$$' -bench 'VerifyHour' -benchtime 1x -benchmem ./gateway/audit | grep -E 'Benchmark|^ok'
	set -o pipefail; EIPGW_BENCH=1 $(GO) test -count=1 -timeout 60m -v -run 'TestBenchLoads|TestTelegrafShort|TestScaleOut' ./gateway/devtools/bench | grep -E '^ +(\||eipgw|Telegraf)|^--- |^ok|FAIL'

# dashboards writes the Grafana dashboards' JSON again from their Go source
# (dashboards/gen); commit the result. A test fails when the two differ.
dashboards:
	$(GO) run ./dashboards/cmd/gendashboards -out dashboards/provisioning/dashboards/eipgw

tools:
	./scripts/tools.sh

vet:
	$(GO) vet ./...

# faults runs the fault-injection scenarios against real Mosquitto and
# InfluxDB and prints the table: scenario, polled, stored, lost, duplicates,
# recovery time. `make test` runs them too.
faults: tools
	set -o pipefail; EIPGW_SOAK=1 $(GO) test -count=1 -timeout 60m -v -run 'TestFaults|TestBacklogMemory|TestManyBuses' ./gateway/devtools/faults | grep -E '^(\||--- |ok|FAIL)'

# audit-acceptance runs the audit's acceptance: a 48-hour signed run of the
# reference park through Mosquitto, ingest and InfluxDB 1.8.10, its hours
# sealed, verifies with 0 mismatches and its report (kept in
# audit-report/, the PDF's first pages as PNG) has totals equal to the
# hourly records. `make test` runs the same test on 2 hours.
audit-acceptance: tools
	EIPGW_AUDIT_HOURS=48 EIPGW_REPORT_DIR=$(CURDIR)/audit-report $(GO) test -count=1 -timeout 60m -v -run TestReportOfASignedRun ./gateway/audit

# check adds formatting, static analysis and module tidiness to test.
check: fmt lint test
	$(GO) mod tidy -diff

lint:
	GOFLAGS=-mod=mod $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# build: eipgw (every role), and the edge's and ingest's builds (each its
# role and the operator tools), these two as a release builds them: static
# and stripped (packaging/README.md).
build:
	$(GO) build -o .tools/bin/eipgw ./cmd/eipgw
	CGO_ENABLED=0 $(GO) build -trimpath -tags eipgw_edge -ldflags "-s -w" -o .tools/bin/eipgw-edge ./cmd/eipgw
	CGO_ENABLED=0 $(GO) build -trimpath -tags eipgw_ingest -ldflags "-s -w" -o .tools/bin/eipgw-ingest ./cmd/eipgw

clean:
	rm -rf .demo
