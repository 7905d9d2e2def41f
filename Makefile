# Switchboard — build, run, test.
GO        ?= go
BIN       := bin/switchboard
CONFIG    ?= pipelines.yaml
SDK_DIR   := cmd/switchboard/testdata/sdk
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build run test test-short lint bench bench-go soak proto fuzz clean sdk-deps

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/switchboard

run: build
	./$(BIN) serve -c $(CONFIG)

# Node packages for the SDK compatibility tests (real Segment and RudderStack
# client libraries), installed from the committed lockfile.
sdk-deps: $(SDK_DIR)/node_modules/.package-lock.json

$(SDK_DIR)/node_modules/.package-lock.json: $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	cd $(SDK_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

test: sdk-deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 10m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The whole system measured in one table (ceiling, ingest, end to end,
# micro), medians of 3 rounds; JSON under results/. About 5 minutes.
bench: build
	./$(BIN) bench all --out results

# Opt-in long run: 5 minutes of the Meta pipeline at 5,000 events/s, serve's
# and the plugin's memory sampled every 10 s.
soak: build
	./$(BIN) bench soak --duration 5m --rate 5000

# Every Go benchmark of every package, once.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)

# Scale-out on a real NATS cluster (docs/cluster.md): three clustered
# nats-server processes, two serves, load through both, SIGKILL of nodes and
# serves, the account of every acknowledged event; then the benchmark of two
# serves on R3 against one on embedded R1. `make test` runs a short case.
.PHONY: test-cluster bench-cluster
test-cluster:
	SWITCHBOARD_TEST_CLUSTER=1 $(GO) test -count=1 -timeout 30m -v -run '^TestCluster(Long|Bench)$$' ./cmd/switchboard/

bench-cluster:
	SWITCHBOARD_BENCH_CLUSTER=1 $(GO) test -count=1 -timeout 30m -v -run '^TestClusterBench$$' ./cmd/switchboard/

# Short runs of every native fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./core/config/
	$(GO) test -run '^$$' -fuzz '^FuzzBatch$$' -fuzztime 30s ./sources/segment/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./sources/tealium/
	$(GO) test -run '^$$' -fuzz '^FuzzDeliverRoundTrip$$' -fuzztime 30s ./plugins/
	$(GO) test -run '^$$' -fuzz '^FuzzEventsFromWire$$' -fuzztime 30s ./plugins/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckSettings$$' -fuzztime 30s ./core/pluginhost/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePubAck$$' -fuzztime 30s ./core/bus/

# Regenerates the committed protobuf code with Debian's protoc and pinned
# Go generators.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.1
PROTO_TOOLS        := $(CURDIR)/bin/proto-tools
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(PROTO_TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(PROTO_TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd plugins/proto && PATH="$(PROTO_TOOLS):$$PATH" protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		switchboard/destination/v1/destination.proto

clean:
	rm -rf bin data
