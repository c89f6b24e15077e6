# compact — top-level Makefile.
#
# PGXS refuses "make check" and needs postgresql-server-dev-15 before it can
# even be included, so this file only drives scripts/ and Makefile.pgxs:
#
#   make demo    install what is missing, build, install, show compaction at work
#   make check   install what is missing, build, install, run every test suite
#   make bench   benchmarks (BENCH_ROWS=N to scale)
#
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

PGXS_MAKE = $(MAKE) --no-print-directory -f $(CURDIR)/Makefile.pgxs PG_CONFIG=$(PG_CONFIG)

.PHONY: all deps build install check installcheck demo bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(PGXS_MAKE) all

install: build
	$(PGXS_MAKE) install

check: install
	scripts/check.sh

installcheck:
	$(PGXS_MAKE) installcheck

demo: install
	scripts/demo.sh

bench: install
	test/bench/run.sh

clean:
	-$(PGXS_MAKE) clean
