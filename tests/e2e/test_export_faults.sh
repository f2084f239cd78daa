#!/usr/bin/env bash
# test_export_faults.sh - kmc export --format pkcs12 and kmc trust export
# --format pkcs12, each making its password item, broken at every step
# by the fault shim (tests/faultinject.c): each file-system step failing
# (ENOSPC or EIO), the process killed at each step (KMC_FAULT_KILL=1),
# then kmc's own allocations failing (KMC_FAULT_NEAR) and a few of all
# of them, OpenSSL's included.
#
# An export writes twice: the password item into the vault, then the
# file. After every broken run:
#   - exit 0 only with both: the file whole, opened by the item's
#     password; a failure exits below 128 with a message starting
#     "kmc: " (a failing step: naming the fault);
#   - never a file without its password in the vault, nor a file that
#     is not whole; no .NAME.tmp-* left beside it;
#   - the vault healthy (kmc status), the rest of it as it was (the
#     bundle's key, the import's password);
#   - run again, the export succeeds, and when the broken run had made
#     the password item, the file opens with that same password.
#
# make check: one step in FAIL_STRIDE (2) failing and one in KILL_STRIDE
# (3) killed, the last always; one own allocation in OWN_STRIDE (8) and
# ALLOC_RUNS (3) of all of them. make check-full (KMC_STEP_STRIDE=1,
# KMC_ALLOC_STRIDE=1): each step and own allocation, and FULL_ALL_RUNS
# (40) of all the allocations (about a second each under ASan).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
OUTF=$T/out.p12
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

P=$T/pki
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P"
t "kmc init" look init
t "import the bundle server" look import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key"
t "trust store clients trusts the CA" look trust add ca "$P/ca.crt" --store clients
rm -rf "$T/saved" && cp -a "$V" "$T/saved" && state_save "$V" "$T/saved.state"
load() { rm -rf "$V" "$OUTF" "$T"/.out.p12* && cp -a "$T/saved" "$V" && state_load "$V" "$T/saved.state"; }
KEY_BEFORE=$(look unwrap server --format der | sha256sum)
PW_BEFORE=$(look password get server | sha256sum)

# The item a run makes, and whether the file is whole and opened by it.
item_pw() { look password get "$ITEM" >"$T/item.pw" 2>/dev/null; }
opens() { openssl pkcs12 -in "$OUTF" -passin "file:$T/item.pw" -noout >/dev/null 2>&1; }
both() { item_pw && [ -f "$OUTF" ] && opens; }
no_tmp_left() {
	local left
	shopt -s nullglob
	left=("$T"/.out.p12* "$V"/.*.tmp-*)
	shopt -u nullglob
	[ ${#left[@]} = 0 ] || { echo "left behind: ${left[*]}" >&2; false; }
}
healthy() {
	look status --json >"$T/status" 2>&1
	grep -q '"healthy":true' "$T/status" || { cat "$T/status" >&2; false; }
}
rest_kept() {
	[ "$(look unwrap server --format der | sha256sum)" = "$KEY_BEFORE" ] &&
		[ "$(look password get server | sha256sum)" = "$PW_BEFORE" ]
}
# No file without the item, and a file there is whole.
never_orphan() {
	[ ! -e "$OUTF" ] && return 0
	item_pw || { echo "a file, and no password item" >&2; return 1; }
	opens || { echo "a file the item's password does not open" >&2; false; }
}
names_fault() {
	[[ $(cat "$RUN_ERR") =~ $FAULT_MSG && $(cat "$RUN_ERR") == "kmc: "* ]] ||
		{ echo "exit $rc: $(cat "$RUN_ERR")" >&2; false; }
}
says_kmc() { [[ $(cat "$RUN_ERR") == "kmc: "* ]] || { echo "exit $rc: $(cat "$RUN_ERR")" >&2; false; }; }
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
no_san_report() { ! grep -Eq "$SAN_MSG" "$RUN_ERR" || { cat "$RUN_ERR" >&2; false; }; }
again() { # run again: both, and the password the broken run made kept
	local had=
	item_pw && had=$(sha256sum <"$T/item.pw")
	rm -f "$OUTF"
	look "${CMD[@]}" >/dev/null 2>"$T/again.err" || { cat "$T/again.err" >&2; return 1; }
	both || { echo "run again: not both" >&2; return 1; }
	[ -z "$had" ] || [ "$(sha256sum <"$T/item.pw")" = "$had" ] ||
		{ echo "run again: another password than the one made" >&2; false; }
}

faulty() { # faulty N KILL: CMD under the shim; sets rc and steps
	local asan=$RUN_ASAN_OPTIONS
	rm -f "$COUNT"
	[ -z "$FAULT_OPS" ] || [ "$FAULT_NEAR" != 0 ] || asan=$ALLOC_ASAN_OPTIONS
	{ ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$1" KMC_FAULT_KILL="$2" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_NEAR="$FAULT_NEAR" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "${CMD[@]}" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
FAULT_OPS=
FAULT_NEAR=0

one_run() { # the checks after a broken run (MODE fail, kill or alloc; AT names it)
	case $MODE in
	kill) check "$AT: the shim killed it" killed ;;
	*)
		if [ "$rc" = 0 ]; then
			check "$AT, yet exit 0: the file and its password both there" both
		else
			check "$AT: exits non-zero without a crash" no_crash
			if [ "$MODE" = fail ]; then
				check "$AT: the message starts 'kmc: ' and names the fault" names_fault
			else
				check "$AT: a message starting 'kmc: '" says_kmc
			fi
			check "$AT: no file left" test ! -e "$OUTF"
		fi
		check "$AT: nothing temporary left" no_tmp_left
		check "$AT: no memory error report" no_san_report
		;;
	esac
	check "$AT: never a file without its password, nor one not whole" never_orphan
	check "$AT: the vault is healthy" healthy
	check "$AT: the bundle's key and password are as they were" rest_kept
	check "$AT: run again, it succeeds, with the password made if any" again
}

FAIL_STRIDE=${KMC_STEP_STRIDE:-2}
KILL_STRIDE=${KMC_STEP_STRIDE:-3}
step_sweep() {
	local total t0=$SECONDS
	load
	faulty 0 0
	check "$WHAT under the shim without a fault succeeds" test "$rc" = 0
	check "$WHAT under the shim: the file and its password" both
	check "the shim counted the steps of $WHAT" test "$steps" -gt 4
	total=$steps
	each_step "$total" 2
	kills_wanted || skip_kills "$WHAT"
	echo "# $WHAT: $total steps, failing 1 in $FAIL_STRIDE, killed 1 in $KILL_STRIDE; $((SECONDS - t0)) s"
}

OWN_STRIDE=8
ALLOC_RUNS=3
FULL_ALL_RUNS=40
alloc_sweep() { # alloc_sweep NEAR: kmc's own allocations (NEAR 4), or all (0)
	local near=$1 n total k fails=0 t0=$SECONDS label
	label="$WHAT, $([ "$near" = 0 ] && echo allocation || echo 'own allocation')"
	load
	FAULT_OPS=alloc FAULT_NEAR=$near faulty 0 0
	check "${label}s counted: succeeds without a fault" test "$rc" = 0
	total=$steps
	k=${KMC_ALLOC_STRIDE:-}
	# All of them are some 35,000, nearly all OpenSSL's (PKCS#12 and its
	# key derivations): make check-full tries FULL_ALL_RUNS spread evenly.
	[ -z "$k" ] || [ "$near" != 0 ] || k=$(((total + FULL_ALL_RUNS - 1) / FULL_ALL_RUNS))
	if [ -z "$k" ]; then
		k=$OWN_STRIDE
		[ "$near" != 0 ] || k=$(((total + ALLOC_RUNS - 1) / ALLOC_RUNS))
		[ -z "${KMC_SANITIZED:-}" ] || k=$((2 * k))
	fi
	for ((n = 1; n <= total; n += k)); do
		MODE=alloc
		AT="$label $n of $total failing"
		load
		FAULT_OPS=alloc FAULT_NEAR=$near faulty "$n" 0
		[ "$rc" = 0 ] || fails=$((fails + 1))
		one_run
	done
	[ "$near" = 0 ] || check "the shim is active: with some ${label} failing, $WHAT failed" test "$fails" -gt 0
	echo "# ${label}s: $total, 1 in $k tried, $fails failed; $((SECONDS - t0)) s"
}

WHAT="export server --format pkcs12"
ITEM=server/keystore-password
CMD=(export server --format pkcs12 --out "$OUTF")
step_sweep
alloc_sweep 4
alloc_sweep 0

WHAT="trust export --format pkcs12"
ITEM=trust:clients/truststore-password
CMD=(trust export --store clients --format pkcs12 --out "$OUTF")
step_sweep

done_testing
