# compact — top-level Makefile.
#
# PGXS refuses "make check" and needs postgresql-server-dev-15 before it can
# even be included, so this file only drives scripts/ and Makefile.pgxs:
#
#   make demo    install what is missing, build, install, show compaction at work
#   make check   install what is missing, build (with fault points), install, run every test suite
#   make bench   benchmarks (BENCH_ROWS=N to scale)
#   make stress  minutes of concurrent load and a long differential test
#
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

PGXS_MAKE = $(MAKE) --no-print-directory -f $(CURDIR)/Makefile.pgxs PG_CONFIG=$(PG_CONFIG)

.PHONY: all deps build install check installcheck demo bench stress clean fuzz check-sanitize

all: build

deps:
	@scripts/deps.sh

# A build remembers its flags (.build-flags): switching between the release
# build and the test build (-DCOMPACT_DEBUG: fault points, see src/compact.h)
# rebuilds everything.
define build_with
	@if [ "$$(cat .build-flags 2>/dev/null)" != "$(1)" ]; then \
		$(PGXS_MAKE) clean >/dev/null; echo "$(1)" > .build-flags; fi
	$(PGXS_MAKE) COMPACT_CFLAGS="$(1)" all
endef

build: deps
	$(call build_with,)

# The old library is unlinked, not overwritten: servers started from it
# (a bench, a test run) keep their mapped copy and do not crash.
PKGLIB_SO = $(shell $(PG_CONFIG) --pkglibdir)/compact.so

install: build
	rm -f $(PKGLIB_SO)
	$(PGXS_MAKE) install

check: deps
	$(call build_with,-DCOMPACT_DEBUG)
	rm -f $(PKGLIB_SO)
	$(PGXS_MAKE) COMPACT_CFLAGS=-DCOMPACT_DEBUG install
	scripts/check.sh

installcheck:
	$(PGXS_MAKE) installcheck

demo: install
	scripts/demo.sh

bench: install
	test/bench/run.sh

stress: install
	scripts/stress.sh

clean:
	-$(PGXS_MAKE) clean

# libFuzzer targets (test/fuzz/README.md): FUZZ_SECONDS per target, default 600
fuzz:
	scripts/fuzz.sh

# the regression suite against an AddressSanitizer/UBSan build; installs it
check-sanitize:
	scripts/check-sanitize.sh
