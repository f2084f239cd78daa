# tests/fuzz/fuzz.mk - libFuzzer targets for the parsers.
#
# Included by the top Makefile, or on its own from the top of the tree:
#
#   make -f tests/fuzz/fuzz.mk O=build-fuzz fuzz-replay
#   make -f tests/fuzz/fuzz.mk O=build-fuzz fuzz FUZZ_SECONDS=20
#
#   fuzz          build every target, then fuzz each for $(FUZZ_SECONDS)
#                 seconds (default 30) on a copy of its seeds; print the
#                 executions and crashes of each; fail if any crashed.
#                 make -jN fuzzes N targets at a time, each on a CPU of its
#                 own, for the same seconds each.
#                 Crashing inputs land in $(O)/fuzz/artifacts/<target>/.
#   fuzz-replay   build, then run each target once over its seeds
#                 (-runs=0); fail on any crash, leak or sanitizer report.
#   fuzz-build    build only: $(O)/fuzz/fuzz_<target>.
#   fuzz-seeds    make the seeds that hold keys, certificates or CRLs.
#
# A target's seeds are its committed corpus, tests/fuzz/corpus/<target>/,
# and those tests/fuzz/mkseeds.sh makes fresh with openssl into
# $(O)/fuzz/seeds/<target>/ (x509: certificates, CRLs and keys of each
# kind and encoding, some encrypted under fuzz_x509.c's password; trust:
# records holding a CA and its CRL): no key, certificate or CRL is
# committed. They are made once, again when mkseeds.sh changes.
#
# The library's sources are compiled once with the sanitizers into
# $(FUZZ_DIR)/obj/ and linked into each target. clang with libFuzzer is required
# (FUZZ_CC, default clang). FUZZ_TARGETS picks a subset.

# Included, this file must not change the including Makefile's goal
# (wherever the include stands); on its own, its first target is it.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)
FUZZ_STANDALONE := $(filter %fuzz.mk,$(firstword $(MAKEFILE_LIST)))

O ?= build
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TIMEOUT ?= 10
FUZZ_TARGETS ?= keystore record cstring journal conf x509 uri recovery manifest \
	lmdbmeta trust subject ca ciphers batch bind audit treebucket \
	filemap tokenpending keyref auditlog

FUZZ_DIR := $(O)/fuzz
# Sanitizer reports are crashes, never warnings that let a run go on.
FUZZ_CFLAGS ?= -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Iinclude

# A smaller quarantine than ASan's 256 MB: the x509 target allocates a
# lot inside OpenSSL and runs about three times faster with it.
FUZZ_ASAN_OPTIONS ?= detect_leaks=1:quarantine_size_mb=32
FUZZ_ENV = ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
FUZZ_LIBS := -lsodium -llmdb -lssl -lcrypto
# The library's sources; pkcs11/ too once there, since vault/ calls it.
FUZZ_LIB_SRC := $(wildcard kmc/*.c) $(wildcard safeio/*.c) \
	$(wildcard vault/*.c) $(wildcard pkcs11/*.c)
FUZZ_LIB_HDR := $(wildcard include/*.h include/kmc/*.h kmc/*.h safeio/*.h \
	vault/*.h pkcs11/*.h)
ifneq ($(wildcard pkcs11/*.c),)
FUZZ_CFLAGS += $(shell pkg-config --cflags p11-kit-1 2>/dev/null)
FUZZ_LIBS += $(shell pkg-config --libs p11-kit-1 2>/dev/null || \
	echo -lp11-kit) -lpthread
endif
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-seeds

FUZZ_SEEDS := $(FUZZ_DIR)/seeds
# A target's seed folders: the committed, and the made if it has any.
fuzz_seed_dirs = tests/fuzz/corpus/$$t $$(test ! -d $(FUZZ_SEEDS)/$$t || \
	echo $(FUZZ_SEEDS)/$$t)

fuzz-seeds: $(FUZZ_SEEDS)/made

$(FUZZ_SEEDS)/made: tests/fuzz/mkseeds.sh
	@printf '  %-6s %s\n' SEEDS $(FUZZ_SEEDS)
	@tests/fuzz/mkseeds.sh $(FUZZ_SEEDS)
	@touch $@

fuzz-build: $(FUZZ_BINS)

# The library is compiled once, instrumented alike (without libFuzzer's
# main, which each target links in), and linked into every target.
fuzz_comma := ,
FUZZ_LIB_CFLAGS = $(subst =fuzzer$(fuzz_comma),=fuzzer-no-link$(fuzz_comma),$(FUZZ_CFLAGS))
FUZZ_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_LIB_HDR) tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	@printf '  %-6s %s\n' FUZZCC $<
	@$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) $(FUZZ_LIB_HDR) tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	@printf '  %-6s %s\n' FUZZLD $@
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_OBJ) $(FUZZ_LIBS)

# keyref compiles the provider's decoder in (the provider is not part of
# the library): rebuilt when it changes.
$(FUZZ_DIR)/fuzz_keyref: provider/keyref.c provider/kmcprov.h \
	provider/vaultapi.h

# Each target runs in a rule of its own (fuzz-replay-<target>,
# fuzz-run-<target>), so that make -jN runs N of them side by side. Each
# writes its line of the table to $(FUZZ_DIR)/<kind>-<target>.result,
# "FAILED" in it when it failed, and never fails itself: every target
# runs, then fuzz-replay and fuzz print the table in target order and
# fail if any line says FAILED.
FUZZ_REPLAYS := $(FUZZ_TARGETS:%=fuzz-replay-%)
FUZZ_RUNS := $(FUZZ_TARGETS:%=fuzz-run-%)
.PHONY: $(FUZZ_REPLAYS) $(FUZZ_RUNS)

# Known inputs only: a crash here is a regression.
fuzz-replay: $(FUZZ_REPLAYS)
	@cat $(FUZZ_TARGETS:%=$(FUZZ_DIR)/replay-%.result); \
	! grep -q FAILED $(FUZZ_TARGETS:%=$(FUZZ_DIR)/replay-%.result)

$(FUZZ_REPLAYS): fuzz-replay-%: $(FUZZ_DIR)/fuzz_% $(FUZZ_SEEDS)/made
	@t=$*; log=$(FUZZ_DIR)/replay-$$t.log; res=$(FUZZ_DIR)/replay-$$t.result; \
	dirs="$(fuzz_seed_dirs)"; n=$$(find $$dirs -type f | wc -l); \
	if $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$$t -runs=0 \
		-artifact_prefix=$(FUZZ_DIR)/replay-$$t- \
		$$dirs > $$log 2>&1; then \
		printf '  %-10s %4s inputs  ok\n' $$t $$n > $$res; \
	else \
		{ printf '  %-10s %4s inputs  FAILED (see %s)\n' $$t $$n $$log; \
		  tail -n 30 $$log; } > $$res; \
	fi

# Each run starts from a fresh copy of the seeds; what it finds stays
# in $(O)/fuzz/corpus/<target>/, out of the source tree.
fuzz: $(FUZZ_RUNS)
	@printf '  %-10s %12s %8s  %s\n' target executions crashes artifacts; \
	cat $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%.result); \
	! grep -q FAILED $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%.result)

$(FUZZ_RUNS): fuzz-run-%: $(FUZZ_DIR)/fuzz_% $(FUZZ_SEEDS)/made
	@t=$*; work=$(FUZZ_DIR)/corpus/$$t; art=$(FUZZ_DIR)/artifacts/$$t; \
	log=$(FUZZ_DIR)/fuzz-$$t.log; res=$(FUZZ_DIR)/fuzz-$$t.result; \
	rm -rf $$work $$art; mkdir -p $$work $$art; \
	for d in $(fuzz_seed_dirs); do cp $$d/* $$work/; done; \
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
		-timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 \
		-artifact_prefix=$$art/ $$work > $$log 2>&1; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1); \
	crashes=$$(ls $$art | wc -l); \
	printf '  %-10s %12s %8s  %s\n' $$t "$${execs:-?}" $$crashes \
		"$$(ls $$art | tr '\n' ' ')" > $$res; \
	if [ $$crashes -ne 0 ] || [ -z "$$execs" ]; then \
		{ echo '      FAILED'; \
		  grep -m 3 -E 'ERROR|SUMMARY|runtime error' $$log | sed 's/^/      /'; } >> $$res; \
	fi

ifeq ($(FUZZ_STANDALONE),)
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
endif
