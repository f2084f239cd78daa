# kmcvault - build, install, test.
#
#   make               library (static and shared) and the kmc command
#   make check         install missing Debian packages, build, run all tests
#   make check-full    check, then the sweeps too long for CI (hours)
#   make demo          build and run the main job on a throwaway vault
#   make bench         build and print the benchmark table
#   make install       PREFIX=/usr/local DESTDIR= honoured
#
# Quiet unless V=1.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
# Where OpenSSL 3 looks for providers (-provider kmc).
MODULESDIR ?= $(shell pkg-config --variable=modulesdir libcrypto 2>/dev/null || echo $(LIBDIR)/ossl-modules)
DESTDIR ?=

# The soname follows the ABI number, not the release. Both are read from
# include/kmc.h (KMC_ABI, KMC_VERSION_*), so the two cannot disagree.
kmc_h_num = $(shell sed -n 's/^\#define $(1) \([0-9][0-9]*\)$$/\1/p' include/kmc.h)
ABI := $(call kmc_h_num,KMC_ABI)
RELEASE := $(call kmc_h_num,KMC_VERSION_MAJOR).$(call kmc_h_num,KMC_VERSION_MINOR).0
ifeq ($(ABI),)
$(error include/kmc.h: no KMC_ABI number)
endif
ifneq ($(filter .%,$(RELEASE)),)
$(error include/kmc.h: no KMC_VERSION_MAJOR number)
endif
GIT_REV := $(shell git describe --always --dirty 2>/dev/null)
VERSION := $(RELEASE)$(if $(GIT_REV),+g$(GIT_REV))

O ?= build
CC ?= cc
CFLAGS ?= -O2 -g
SAN_CFLAGS ?=
SAN_LDFLAGS ?=

KMC_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat-security \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC -fvisibility=hidden \
	-fno-strict-aliasing -ffunction-sections -Iinclude $(shell pkg-config --cflags p11-kit-1 2>/dev/null) \
	$(SAN_CFLAGS)
KMC_LDFLAGS := -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack $(SAN_LDFLAGS)
# The code a server runs at boot, placed together (the functions are in
# sections of their own, -ffunction-sections above): a server's RSS holds
# one or two 64 KiB blocks of the library's code, not all of it
# (tools/hotpath.ld; docs/performance.md, row boot10k). Layout only.
HOTPATH_LD := tools/hotpath.ld
KMC_LDFLAGS += -Wl,-T,$(HOTPATH_LD)
# p11-kit is not linked: pkcs11/p11kit.c loads it when a token protector
# is first used, so that programs that never use one (the provider in
# every server above all) do not load it and its libffi. Only its
# headers are needed here; the bench's raw PKCS#11 peer links it.
LIBS := -lsodium -llmdb -lssl -lcrypto -lpthread
P11KIT_LIBS := $(shell pkg-config --libs p11-kit-1 2>/dev/null || echo -lp11-kit)

ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

LIB_SRC := $(wildcard kmc/*.c) $(wildcard safeio/*.c) $(wildcard vault/*.c) \
	$(wildcard pkcs11/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/obj/%.o)
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(O)/examples/%)

PROV_SRC := $(wildcard provider/*.c)
PROV_OBJ := $(PROV_SRC:%.c=$(O)/obj/%.o)
PROVIDER := $(O)/provider/kmc.so
PROV_VAULT_OBJ := $(O)/obj/provider/vault/api.o
PROVIDER_VAULT := $(O)/provider/kmc/vault.so
STATIC := $(O)/libkmcvault.a
SHARED := $(O)/libkmcvault.so.$(RELEASE)
SONAME := libkmcvault.so.$(ABI)
KMC := $(O)/kmc

.PHONY: all deps check check-unit check-e2e demo bench install uninstall clean \
	tests check-sanitize check-valgrind check-full sanitize-build
.DELETE_ON_ERROR:

all: $(STATIC) $(SHARED) $(KMC) $(PROVIDER) $(PROVIDER_VAULT) $(O)/kmcvault.pc $(EXAMPLE_BIN) \
	$(O)/test-cflags $(O)/test-libs

# How tests compile their helper programs against this build (lib.sh's
# kmc_cc): the same sanitizer flags and libraries as the build itself.
$(O)/test-cflags: Makefile
	@mkdir -p $(@D)
	@echo '$(SAN_CFLAGS)' > $@
$(O)/test-libs: Makefile
	@mkdir -p $(@D)
	@echo '$(LIBS) $(SAN_LDFLAGS)' > $@

$(O)/obj/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(KMC_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The version reaches one object; its stamp changes only with the version.
$(O)/version.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@

$(O)/obj/kmc/errors.o $(PROV_OBJ) $(PROV_VAULT_OBJ): $(O)/version.stamp
$(O)/obj/kmc/errors.o $(PROV_OBJ) $(PROV_VAULT_OBJ): KMC_CFLAGS += -DKMC_GIT_VERSION='"$(VERSION)"'

.PHONY: FORCE
FORCE:

# Where kmc_key_load() finds the provider for a token key unless
# $OPENSSL_MODULES says otherwise: where make install puts it. Its stamp
# changes with MODULESDIR, so a make install with another one rebuilds.
$(O)/modulesdir.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(MODULESDIR)' | cmp -s - $@ || echo '$(MODULESDIR)' > $@
$(O)/obj/vault/tokenprov.o: $(O)/modulesdir.stamp
$(O)/obj/vault/tokenprov.o: KMC_CFLAGS += -DKMC_MODULESDIR='"$(MODULESDIR)"'

$(STATIC): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# -z nodelete: the library may have offered its vault code to a kmc.so
# loaded beside it (vault/tokenprov.c), which keeps calling it; a dlclose
# must not unmap that code.
$(SHARED): $(LIB_OBJ) $(HOTPATH_LD)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,nodelete $(KMC_LDFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJ) $(LIBS)
	$(Q)ln -sf $(notdir $@) $(O)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(O)/libkmcvault.so

# The command sees the public header only (-Iinclude, no internal paths).
# --as-needed: it sets up no SSL_CTX, so libssl is not loaded at its
# start (the archive brings in none of tls.c; certinfo.c is apart).
$(KMC): $(CLI_OBJ) $(STATIC) $(HOTPATH_LD)
	$(call say,LD,$@)
	$(Q)$(CC) -pie $(KMC_LDFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) \
		-Wl,--as-needed $(LIBS) -Wl,--no-as-needed

# The provider module: named kmc.so so that `-provider kmc` finds it.
# It links libcrypto only; the vault code is kmc/vault.so beside it,
# loaded on the first key asked for (provider/vaultapi.h): a server
# that loads the provider and never uses it does not load libsodium,
# LMDB or the library. vault.so links --as-needed: it reaches no libssl
# code (kmc_key_export is apart from tls.c for this), nor p11-kit, which
# pkcs11/ loads itself for a token protector.
$(PROVIDER): $(PROV_OBJ) provider/kmcprov.map
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,--version-script=provider/kmcprov.map \
		$(KMC_LDFLAGS) $(LDFLAGS) -o $@ $(PROV_OBJ) -lcrypto

$(PROVIDER_VAULT): $(PROV_VAULT_OBJ) $(STATIC) provider/vault/api.map $(HOTPATH_LD)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,--version-script=provider/vault/api.map \
		$(KMC_LDFLAGS) $(LDFLAGS) -o $@ $(PROV_VAULT_OBJ) $(STATIC) \
		-Wl,--as-needed $(LIBS)

$(O)/examples/%: examples/%.c $(STATIC)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(KMC_CFLAGS) $(CFLAGS) -pie $(KMC_LDFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# Made at install time too, so the installed file names the PREFIX of
# the install, not that of an earlier build.
PC_SED := sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(RELEASE)|'

$(O)/kmcvault.pc: kmcvault.pc.in Makefile
	$(call say,GEN,$@)
	@mkdir -p $(@D)
	$(Q)$(PC_SED) $< > $@

# ---- tests -------------------------------------------------------------

$(O)/tests/test_%: tests/unit/test_%.c $(STATIC)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(KMC_CFLAGS) -Wno-missing-prototypes $(CFLAGS) -pie $(KMC_LDFLAGS) $(LDFLAGS) \
		-o $@ $< $(STATIC) $(LIBS) -lcmocka

# Never instrumented: it is preloaded into programs, ahead of any
# sanitizer runtime. Always -O2, whatever the build's CFLAGS: built at
# -O1 (as the ASan build is), the unwinder its first backtrace() loads
# is reported by LeakSanitizer as leaked at every exit.
SHIM_CFLAGS := -O2 -g
$(O)/tests/faultinject.so: tests/faultinject.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(filter-out $(SAN_CFLAGS),$(KMC_CFLAGS)) -Wno-missing-prototypes \
		$(SHIM_CFLAGS) -shared -o $@ $< -ldl

tests: $(UNIT_BIN) $(O)/tests/faultinject.so

deps:
	@tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all tests
	@tools/run-tests.sh $(O)

check-unit: all $(UNIT_BIN)
	@tools/run-tests.sh $(O) unit

check-e2e: all $(O)/tests/faultinject.so
	@tools/run-tests.sh $(O) e2e

# The whole suite again, built with AddressSanitizer and UBSan (leaks
# fatal). One exception: the provider runs inside nginx, openssl and the
# rest, which are not instrumented, so the plain build's copy is used.
# The fault shim is preloaded ahead of the sanitizer runtime (hence
# verify_asan_link_order=0) and is itself not instrumented.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# -O1, as ASan's authors advise: the instrumented build compiles in a
# third of the CPU time -O2 takes (25 against 68 CPU seconds here), and
# its tests' time is the processes' start and the uninstrumented
# libraries', not our code's.
SANITIZE_CFLAGS ?= -O1 -g
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:abort_on_error=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# The race suites (hundreds of processes against each other's files,
# some 110 CPU seconds under ASan) run as built for release in check and
# under ASan in check-full, keeping CI under 20 minutes. So do the two
# suites that mostly wait on servers and clocks (a NuoDB rotation under
# load, certificates left to expire): the library code they reach runs
# under ASan in test_trust_tls, test_promote and test_tls_server. And so
# do the two whose time is the JVM's (test_java_tls, test_heavyai: their
# kmc export and tls_server paths run under ASan in test_export and
# test_tls_options), and the three that read the docs and guides against
# each command's --help and completion (test_docs, test_guides,
# test_completion: argument parsing, which every other suite runs under
# ASan).
SANITIZE_SKIP ?= e2e/test_concurrency.sh e2e/test_file_attacks.sh \
	e2e/test_nuodb_rotation.sh e2e/test_tls_server_expiry.sh \
	e2e/test_java_tls.sh e2e/test_heavyai.sh e2e/test_docs.sh \
	e2e/test_guides.sh e2e/test_completion.sh
sanitize-build: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory O=build-sanitize SAN_CFLAGS="$(SANITIZE)" \
		SAN_LDFLAGS="-fsanitize=address,undefined" CFLAGS="$(SANITIZE_CFLAGS)" \
		all tests
	@cp $(PROVIDER) build-sanitize/provider/kmc.so
	@cp $(PROVIDER_VAULT) build-sanitize/provider/kmc/vault.so

# The fault suites' inspections (what they look at after each broken
# run) go through the release build (KMC_LOOK_BUILD, tests/e2e/lib.sh),
# and their killed-at-each-step passes are left to make check
# (KMC_SANITIZED, tests/e2e/faultlib.sh): a killed run runs no code that
# the failing run at the same step does not run instrumented.
check-sanitize: sanitize-build
	@$(SAN_ENV) KMC_TEST_SKIP="$(SANITIZE_SKIP)" KMC_LOOK_BUILD=$(CURDIR)/$(O) \
		KMC_SANITIZED=1 tools/run-tests.sh build-sanitize

# Under valgrind memcheck, errors and definite leaks fatal: the unit
# suites, and the end-to-end suites below with every kmc they run going
# through memcheck (the longest first). Left to check and check-sanitize:
# the fault suites, which run kmc thousands of times (about a second
# each under memcheck), test_import (150 imports, 3 minutes, whose paths
# the fault suites' own runs cover; check-full runs it), test_file_attacks
# and test_concurrency (hundreds, in races that memcheck's slowness would
# mostly lose), and test_secret_hygiene, whose LD_PRELOAD capture cannot
# sit beside valgrind's own preloads. test_pkcs11, test_cli, test_tpm,
# test_recovery, test_perms and test_backup (one to two and a half CPU
# minutes each under memcheck, their paths run under ASan by
# check-sanitize) are left to check-full, to keep CI under 20 minutes. The servers run the
# provider uninstrumented. Memcheck needs no build of its own: it runs
# the plain build's binaries.
VALGRIND_E2E ?= test_pkcs11_remote test_postgres test_provider_nginx test_provider_openssl \
	test_provider_apache test_provider_haproxy test_provider_mosquitto \
	test_provider_curl test_provider_postgres test_tls_server test_token_servers
check-valgrind: deps
	@$(MAKE) --no-print-directory all tests
	@KMC_VALGRIND=1 VALGRIND_E2E="$(VALGRIND_E2E)" tools/run-tests.sh $(O) valgrind

# What is too long for CI, run whole (some hours on 2 CPUs): make check,
# then the fault suites again with every allocation failing in turn
# (KMC_ALLOC_STRIDE=1), where make check fails a sample of them (about
# 40 of import's 26,600, crl update's 8,400), and at every step
# (KMC_STEP_STRIDE=1) where make check samples the steps (the
# test_promote_faults_*.sh suites), and under memcheck the
# e2e suites check-valgrind leaves out for time (VALGRIND_FULL), and
# under ASan the suites check-sanitize leaves out (SANITIZE_SKIP) and
# every own allocation of the import suites, of which it fails half.
VALGRIND_FULL ?= test_import test_pkcs11 test_cli test_tpm test_recovery test_perms \
	test_backup
check-full: check
	@KMC_ALLOC_STRIDE=1 KMC_STEP_STRIDE=1 KMC_TEST_MATCH='e2e/test_*faults*' tools/run-tests.sh $(O) e2e
	@KMC_ALLOC_STRIDE=1 KMC_TEST_MATCH='unit/test_x509_nomem' tools/run-tests.sh $(O) unit
	@KMC_DAMAGE_FULL=1 KMC_TEST_MATCH='e2e/test_store_damage.sh' tools/run-tests.sh $(O) e2e
	@KMC_VALGRIND=1 KMC_VALGRIND_FULL=1 VALGRIND_E2E="$(VALGRIND_FULL)" KMC_TEST_MATCH='valgrind/e2e/*' \
		tools/run-tests.sh $(O) valgrind
	@$(MAKE) --no-print-directory sanitize-build
	@for t in $(SANITIZE_SKIP); do \
		$(SAN_ENV) KMC_TEST_MATCH="$$t" tools/run-tests.sh build-sanitize e2e || exit 1; \
	done
	@$(SAN_ENV) KMC_ALLOC_STRIDE=1 KMC_SANITIZED=1 KMC_LOOK_BUILD=$(CURDIR)/$(O) \
		KMC_TEST_MATCH='e2e/test_import_faults_*own_alloc.sh' \
		tools/run-tests.sh build-sanitize e2e

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(O)

BENCH_SRC := $(wildcard tools/bench/*.c)
$(O)/bench/kmc-bench: $(BENCH_SRC) tools/bench/bench.h $(STATIC) $(HOTPATH_LD)
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(KMC_CFLAGS) $(CFLAGS) -pie $(KMC_LDFLAGS) $(LDFLAGS) \
		-o $@ $(BENCH_SRC) $(STATIC) $(LIBS) $(P11KIT_LIBS)

# The cold HSM row's peer: a minimal PKCS#11 client, nothing of kmcvault.
$(O)/bench/kmc-p11-min: tools/bench/p11min/p11-min.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(KMC_CFLAGS) $(CFLAGS) -pie $(KMC_LDFLAGS) $(LDFLAGS) \
		-o $@ $< -ldl

bench: deps
	@$(MAKE) --no-print-directory all $(O)/bench/kmc-bench \
		$(O)/bench/kmc-p11-min
	@$(O)/bench/kmc-bench $(O) $(BENCH_ROWS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/kmc $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(KMC) $(DESTDIR)$(BINDIR)/kmc
	install -m 0644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkmcvault.so
	install -d $(DESTDIR)$(MODULESDIR)
	install -m 0755 $(PROVIDER) $(DESTDIR)$(MODULESDIR)/kmc.so
	install -d $(DESTDIR)$(MODULESDIR)/kmc
	install -m 0755 $(PROVIDER_VAULT) $(DESTDIR)$(MODULESDIR)/kmc/vault.so
	install -m 0644 include/kmc.h $(DESTDIR)$(INCLUDEDIR)/kmc.h
	install -m 0644 include/kmc/*.h $(DESTDIR)$(INCLUDEDIR)/kmc/
	$(PC_SED) kmcvault.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/kmcvault.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/kmcvault.pc
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0644 man/kmc.1 $(DESTDIR)$(MANDIR)/man1/kmc.1
	install -m 0644 man/kmc.3 $(DESTDIR)$(MANDIR)/man3/kmc.3
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(KMC) completion bash > $(DESTDIR)$(BASHCOMPDIR)/kmc
	$(KMC) completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_kmc
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/kmc $(DESTDIR)$(ZSHCOMPDIR)/_kmc

uninstall:
	rm -f $(DESTDIR)$(MODULESDIR)/kmc.so $(DESTDIR)$(MODULESDIR)/kmc/vault.so
	-rmdir $(DESTDIR)$(MODULESDIR)/kmc 2>/dev/null
	rm -f $(DESTDIR)$(BINDIR)/kmc $(DESTDIR)$(LIBDIR)/libkmcvault.* \
		$(DESTDIR)$(INCLUDEDIR)/kmc.h $(DESTDIR)$(PKGCONFIGDIR)/kmcvault.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/kmc
	rm -f $(DESTDIR)$(MANDIR)/man1/kmc.1 $(DESTDIR)$(MANDIR)/man3/kmc.3
	rm -f $(DESTDIR)$(BASHCOMPDIR)/kmc $(DESTDIR)$(ZSHCOMPDIR)/_kmc

clean:
	rm -rf $(O) build-*

include tests/fuzz/fuzz.mk

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(PROV_OBJ:.o=.d) $(PROV_VAULT_OBJ:.o=.d)
