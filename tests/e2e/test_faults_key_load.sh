#!/usr/bin/env bash
# test_faults_key_load.sh - a server loading its keys (kmc_vault_open,
# kmc_key_load of each key twice, kmc_ssl_ctx_use of a bundle twice,
# kmc_vault_close: key_load.c) while
# memory runs out: each of kmc's own allocations (KMC_FAULT_NEAR, 4
# calls deep: LMDB's, the bulk read's copy out of the map, the digest's
# tables, the audit's list, OpenSSL's decoding of the key) failing in
# turn.
#
# After each broken run: no crash; every load that failed says
# KMC_E_NOMEM (-40002), never damage, a rollback or a failed
# authentication; a load that succeeded gave a key; an open that failed
# did so for want of memory too. The vault is untouched: the keys load
# again without the shim after each run, and kmc verify finds nothing
# wrong after the sweep.
#
# Every allocation is tried: some 200 runs of well under a second.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }
LOADER=$T/key_load
NAMES=(web api db ctx:srv)
NOMEM=-40002

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

check "the key_load helper builds" kmc_cc "$LOADER" "$KMC_TOP/tests/e2e/key_load.c"
t "kmc init" look init
t "key gen web (P-256)" look key gen web --type p256
t "key gen api (RSA 2048)" look key gen api --type rsa2048
t "key gen db (P-384)" look key gen db --type p384
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki"
t "import srv" look import -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.plain.key" --name srv
cp -a "$V" "$T/saved" && state_save "$V" "$T/saved.state"
load() { rm -rf "$V" && cp -a "$T/saved" "$V" && state_load "$V" "$T/saved.state"; }

run_loader() { # run_loader N: the loader, allocation N failing (0: none)
	rm -f "$COUNT"
	{ ASAN_OPTIONS=$RUN_ASAN_OPTIONS LD_PRELOAD="$SO" KMC_FAULT_AT="$1" \
		KMC_FAULT_OPS=alloc KMC_FAULT_NEAR=4 KMC_FAULT_COUNT="$COUNT" \
		"$LOADER" "$V" "${NAMES[@]}" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
# Each line "NAME: ok" or "NAME: rc -40002: ...", or the open's for want
# of memory; nothing on standard error (no sanitizer report).
only_nomem() {
	local line bad=0
	while IFS= read -r line; do
		case $line in
		*": ok") ;;
		*": rc $NOMEM: "*) ;;
		*) echo "line: $line" >&2; bad=1 ;;
		esac
	done <"$RUN_OUT"
	[ -s "$RUN_OUT" ] || { echo "no output; stderr: $(cat "$RUN_ERR")" >&2; bad=1; }
	[ ! -s "$RUN_ERR" ] || { echo "stderr: $(head -c 2000 "$RUN_ERR")" >&2; bad=1; }
	[ "$bad" = 0 ]
}
loads_again() {
	"$LOADER" "$V" "${NAMES[@]}" >"$T/again.out" 2>&1 ||
		{ echo "$(cat "$T/again.out")" >&2; false; }
}
verifies() { look verify >"$T/verify.out" 2>&1 || { echo "kmc verify: $(cat "$T/verify.out")" >&2; false; }; }

load
run_loader 0
check "the keys load under the shim with nothing failing" test "$rc" = 0
check "... eight loads, each ok" test "$(grep -c ': ok$' "$RUN_OUT")" = 8
total=$steps
check "the shim counted the start-up's allocations" test "$total" -gt 50
fails=0
t0=$SECONDS
for ((n = 1; n <= total; n++)); do
	AT="allocation $n of $total failing"
	load
	run_loader "$n"
	check "$AT: no crash" no_crash
	[ "$rc" = 0 ] || fails=$((fails + 1))
	check "$AT: each failure is out of memory, nothing else" only_nomem
	check "$AT: the keys load again" loads_again
done
# The loader opens read-only: its audit records are all it may write.
check "kmc verify finds the vault whole after the sweep" verifies
check "the shim is active: some allocations failing failed a load" test "$fails" -gt 0
echo "# key load: $total allocations, each failing: $fails failed a load or the open; $((SECONDS - t0)) s"

done_testing
