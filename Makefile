# sealpost - front door.  `make` builds bin/; `make test` installs what the
# tests need, builds and runs every test; `make demo` runs the whole system.
# Sources are found by wildcard: src/lib/*.c is libsealpost, src/<prog>/*.c
# is one program, tests/unit/*_test.c one unit test each, fuzz/fuzz_*.c one
# libFuzzer target each.

CC      ?= cc
BUILD   ?= build
BIN     ?= bin
PKGS     = gmime-3.0 libmicrohttpd jansson libsodium sqlite3 libcurl libhs libcrypto zlib libfido2 libqrencode libcbor libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-unused-parameter
OPT     ?= -O2 -g
SAN     ?=
CFLAGS_ALL = -std=c17 -D_GNU_SOURCE $(WARN) $(OPT) $(SAN) -fno-strict-aliasing \
	     -Isrc/lib -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lmilter -lpthread -lm $(LDLIBS)

LIB_SRC   := $(wildcard src/lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/web_assets.o
LIB_A     := $(BUILD)/libsealpost.a
WEB_FILES := $(shell find web -type f ! -name '*~' 2>/dev/null | LC_ALL=C sort)
PROGS     := $(patsubst src/%/,%,$(filter-out src/lib/,$(sort $(dir $(wildcard src/*/*.c)))))
PROG_BINS := $(foreach p,$(PROGS),$(BIN)/$(if $(filter cli,$(p)),sealpost,sealpost-$(p)))
UNIT_SRC  := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard fuzz/fuzz_*.c)

.PHONY: bench-bins all deps test unit integration integration-pgsql browser asan asan-test fuzz fuzz-smoke bench cluster-fault demo clean check-banned
all: $(PROG_BINS) $(UNIT_BINS)

deps:
	bash scripts/install-deps.sh

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O1 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/gen/web_assets.c: $(BUILD)/tools/embed $(WEB_FILES)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed web $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) -std=c17 $(OPT) $(SAN) -Isrc/lib -c -o $@ $<

$(BUILD)/%.o: %.c $(wildcard src/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

define prog_rule
$(BIN)/$(if $(filter cli,$(1)),sealpost,sealpost-$(1)): $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/$(1)/*.c)) $(LIB_A)
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $$@ $$^ $(LDLIBS_ALL)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS_ALL)

# bench/bench_*.c: one program each; the other bench/*.c are linked into all
BENCH_SRC  := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BENCH_COMMON := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(BENCH_SRC),$(wildcard bench/*.c)))
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_COMMON) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS_ALL)
bench-bins: $(BENCH_BINS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- tests ----------------------------------------------------------------
test: deps
	bash tests/run-all.sh

# store_test once more against a throwaway PostgreSQL (tests/lib/pg.sh)
unit: all
	bash tests/run-unit.sh $(BUILD)
	bash tests/lib/pg.sh run $(BUILD)/tests/store_test

# The key-server suites run once per store backend (TEST_DBS), the
# PostgreSQL run against a throwaway server (tests/lib/pg.mjs); it is
# skipped, saying so, without the PostgreSQL server binaries.
TEST_DBS ?= sqlite pgsql
# The browser suite drives pages; the store paths behind them are the ones
# the integration suite already runs on both backends, so it runs on SQLite
# unless told otherwise (make browser BROWSER_DBS="sqlite pgsql").
BROWSER_DBS ?= sqlite
define node_suites
	@set -e; for db in $(3); do \
	  echo "=== $(1) ($$db)"; \
	  if [ $$db = pgsql ] && ! bash tests/lib/pg.sh have; then \
	    echo "=== $(1) ($$db): no PostgreSQL server binaries, skipped"; continue; fi; \
	  SEALPOST_TEST_DB=$$db SEALPOST_BIN=$(abspath $(BIN)) \
	    node --test --test-concurrency=1 $(2); \
	done
endef

integration: all
	$(call node_suites,integration,tests/integration/,$(TEST_DBS))

# make test's run with the normal build: the integration suite on
# PostgreSQL.  The same suite on SQLite, and the browser suite, run in
# asan-test with the sanitizer build, so that make test runs each suite
# once per backend rather than twice (tests/run-all.sh).
integration-pgsql: all
	$(call node_suites,integration,tests/integration/,pgsql)

browser: all
	$(call node_suites,browser,tests/browser/,$(BROWSER_DBS))

asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" all

asan-test: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  bash tests/run-unit.sh build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  bash tests/lib/pg.sh run build-asan/tests/store_test
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  SEALPOST_BIN=$(abspath build-asan/bin) SEALPOST_SANITIZED=1 SEALPOST_TEST_DB=sqlite \
	  node --test --test-concurrency=1 tests/integration/ tests/browser/

fuzz:
	bash fuzz/build.sh

fuzz-smoke: fuzz
	bash fuzz/run.sh $${FUZZ_SECONDS:-12}

bench: all bench-bins
	bash bench/run.sh

# the cluster test's fault run at full size: 2,000 deposits while a key
# server is killed and PostgreSQL restarts (make integration runs 300)
cluster-fault: all
	SEALPOST_BIN=$(abspath $(BIN)) SEALPOST_FAULT_MESSAGES=$${SEALPOST_FAULT_MESSAGES:-2000} \
	  node --test --test-concurrency=1 tests/integration/cluster.test.mjs

demo: deps all
	bash scripts/demo.sh

check-banned:
	@! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(' \
	  $$(find src tools fuzz bench -name '*.c' -o -name '*.h') \
	  || { echo "banned function used (see docs/hacking.md)"; exit 1; }
	@! grep -nE '(^|[^_[:alnum:]])json_dumps\s*\(' \
	  $$(find src tools fuzz bench -name '*.c' ! -name jsonwipe.c) \
	  || { echo "json_dumps: use sp_json_dumps (jsonwipe.h; see docs/hacking.md)"; exit 1; }

clean:
	rm -rf build build-asan build-fuzz bin
