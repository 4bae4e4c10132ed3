# Keel: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
BIN     := bin/keel
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Go programs of the distribution with their own go.mod (docs/go.md): vetted
# and tested beside keel's module.
GOMODS  := distro/SPECS/keel-init/src distro/SPECS/keel-provision/src

PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all setup build demo test test-long test-short bench fuzz clean docs install

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
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt: these files need gofmt -w: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	for m in $(GOMODS); do $(GO) -C $$m vet ./... && $(GO) -C $$m test ./... || exit 1; done
	$(GO) test -timeout 45m ./...

# Everything `make test` runs plus the suites that skip themselves through
# testenv.Long (KEEL_TEST_LONG=1): run before an issue is resolved.
test-long: setup
	for m in $(GOMODS); do $(GO) -C $$m test ./... || exit 1; done
	KEEL_TEST_LONG=1 $(GO) test -timeout 90m ./...

test-short:
	$(GO) test -short ./...

bench: setup build
	@bench/run

# Run every fuzz target briefly (FUZZTIME=30s make fuzz for longer).
fuzz:
	@scripts/fuzz $${FUZZTIME:-10s}

# The CLI reference (docs/cli/*.md) and man pages (docs/man/*.1), generated
# from the commands; cmd/keel's TestCLIDocs fails when they are out of date.
docs:
	$(GO) test ./cmd/keel -run '^TestCLIDocs$$' -count=1 -args -update

# bin/keel, the man pages and shell completions under $(DESTDIR)$(PREFIX).
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keel
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/keel
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_keel
	$(BIN) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/keel.fish

clean:
	rm -rf bin out
