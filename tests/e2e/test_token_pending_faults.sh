#!/usr/bin/env bash
# test_token_pending_faults.sh - kmc repair destroying the keys on a token
# a change left waiting to be destroyed (its destruction, the audit
# record and the commit that takes them off the list), broken at each
# file-system step (SoftHSM2's object files count too), failing and then
# killed there, and with an allocation of kmc's own code failing, under
# the fault shim (tests/faultinject.c, faultlib.sh).
#
# The vault starts with bundle web on the token, the old version of its
# key (label web) pruned while the token was away: that key waits on the
# list. After each broken repair, a second kmc repair succeeds, and then
# the key waiting is gone from the token, the live key stays (the
# provider signs with it), nothing waits, and the audit log verifies. A
# failing run exits 0 (the key destroyed, or said to be left) or names
# the fault; none crashes.
# Time: some SAMPLES steps of each pass, evenly spread (KMC_STEP_STRIDE=N:
# one step in N, 1: each).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"

V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
waiting() { waiting_json "$1"; }

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
"$P/issue.sh" "$T/k2" prime256v1 unused >/dev/null
t "a vault" kmc init
t "web on the token" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name web --on-token "$TOK"
t "web replaced (the old key stays)" kmc import -c "$P/ca.crt" -s "$T/k2.crt" \
	-k "$T/k2.plain" --name web --replace --on-token "$TOK"
LIVE=$(keys | tr ' ' '\n' | grep -vx web)
t "rm web --old with the token away" env SOFTHSM2_CONF="$T/away.conf" \
	"$KMC" --vault "$V" rm web --old
check "the old key waits to be destroyed" waiting 1
check "the token holds it and the live key" test "$(keys)" = "web $LIVE"
token_vault_save

MODES=${MODES:-fail $(kill_mode)}
SAMPLES=${SAMPLES:-12}
faulty() {
	local n=$1 kill=$2 ops=$3 asan=$RUN_ASAN_OPTIONS
	rm -f "$COUNT"
	[ -z "$ops" ] || asan=$ALLOC_ASAN_OPTIONS
	ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" \
		KMC_FAULT_OPS="$ops" KMC_FAULT_NEAR="${4:-0}" KMC_FAULT_COUNT="$COUNT" \
		"$KMC" --vault "$V" repair >"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
said() {
	[ "$rc" = 0 ] || grep -Eq "$1" "$RUN_ERR" ||
		{ echo "exit $rc: $(cat "$RUN_ERR")" >&2; false; }
}

# sweep WHAT OPS NEAR MODES MSG: kmc repair under the shim.
sweep() {
	local what=$1 ops=$2 near=$3 modes=$4 msg=$5 total stride mode first n at
	token_vault_load
	faulty 0 0 "$ops" "$near"
	check "$what: without a fault it succeeds" test "$rc" = 0
	check "$what: ... and destroys the key waiting" test "$(keys)" = "$LIVE"
	total=$steps
	check "$what: the shim counted its steps" test "$total" -gt 4
	stride=${KMC_STEP_STRIDE:-$((total / SAMPLES + 1))}
	echo "# $what: $total steps, one in $stride broken"
	for mode in $modes; do
		first=1
		[ "$mode" = fail ] || first=$((stride / 2 + 1))
		for ((n = first; n <= total; n += stride)); do
			token_vault_load
			if [ "$mode" = fail ]; then
				at="$what, step $n of $total failing"
				faulty "$n" 0 "$ops" "$near"
				check "$at: no crash" no_crash
				check "$at: exit 0, or the fault named" said "$msg|: CKR_[A-Z_]+ \(0x"
			else
				at="$what, killed at step $n of $total"
				faulty "$n" 1 "$ops" "$near"
				check "$at: the shim killed it" killed
			fi
			check "$at: a second kmc repair succeeds" bash -c "'$KMC' --vault '$V' repair >/dev/null 2>&1"
			check "$at: the key waiting is gone, the live key stays" test "$(keys)" = "$LIVE"
			check "$at: nothing waits" waiting 0
			check "$at: the provider signs with the live key" signs_for "$T/k2.crt"
			check "$at: the audit log verifies" bash -c "'$KMC' --vault '$V' audit verify >/dev/null 2>&1"
		done
	done
}

sweep "kmc repair (file system)" "" 0 "$MODES" "$FAULT_MSG"
SAMPLES=8 sweep "kmc repair (allocations)" alloc 3 fail 'out of memory|Cannot allocate memory'

done_testing
