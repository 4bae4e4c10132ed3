# Keel: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
BIN     := bin/keel
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all setup build demo test test-short bench fuzz clean

all: build

setup:
	@scripts/setup

# Static, no cgo: keel's only cgo users (net, os/user) have pure-Go
# fallbacks, and start-up is measurably cheaper (bench/results/repo.md).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/keel

# The main job on the embedded default distribution (distro/).
demo: setup build
	@scripts/demo

test: setup
	$(GO) vet ./...
	$(GO) test -timeout 45m ./...

test-short:
	$(GO) test -short ./...

bench: setup build
	@bench/run

# Run every fuzz target briefly (FUZZTIME=30s make fuzz for longer).
fuzz:
	@scripts/fuzz $${FUZZTIME:-10s}

clean:
	rm -rf bin out
