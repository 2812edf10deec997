# eipgw make targets. `make demo` runs the demo park end to end; `make test`
# installs what the tests need and runs them. CI runs `make test` verbatim.
GO ?= go
SHELL := /bin/bash

.PHONY: demo test tools check fmt vet build clean faults

demo:
	./scripts/demo.sh

test: tools vet
	$(GO) test -race -count=1 ./...

tools:
	./scripts/tools.sh

vet:
	$(GO) vet ./...

# faults runs the fault-injection scenarios against real Mosquitto and
# InfluxDB and prints the table: scenario, polled, stored, lost, duplicates,
# recovery time. `make test` runs them too.
faults: tools
	set -o pipefail; $(GO) test -count=1 -v -run 'TestFaults|TestBacklogMemory' ./gateway/faults | grep -E '^(\||--- |ok|FAIL)'

# check adds formatting and module tidiness to test.
check: fmt test
	$(GO) mod tidy -diff

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

build:
	$(GO) build -o .tools/bin/eipgw ./cmd/eipgw

clean:
	rm -rf .demo
