#!/usr/bin/env bash
# test_ref_faults.sh - kmc ref NAME --out FILE (a key-reference file,
# mode 0644, never over an existing file) broken at every step by the
# fault shim (tests/faultinject.c): each file-system step failing
# (ENOSPC or EIO), the process killed at each step (KMC_FAULT_KILL=1),
# kmc's own allocations failing in turn (KMC_FAULT_NEAR); then the same
# with the file system taken to lack O_TMPFILE (KMC_FAULT_NO_TMPFILE=1),
# where the file is written under a temporary name beside FILE first;
# then FILE existing before the run, and made by another process at each
# step (KMC_FAULT_MAKE).
#
# ref reads the vault (an audit record of the key's read is its only
# write there), then writes FILE whole beside its name and links it
# there. After every broken run:
#   - exit 0 only with FILE whole: 0644, and openssl loads the bundle's
#     key from it through the provider; a failure exits below 128 with a
#     message starting "kmc: " (a failing step: naming the fault) and
#     leaves no FILE;
#   - FILE is absent or whole, never part of a reference;
#   - no .FILE.tmp-* beside it, but after a kill in the named way
#     (no O_TMPFILE): that leaves the temporary, which neither the next
#     run nor kmc repair removes (docs/cli.md says so); FILE is still
#     absent or whole, and the next run is not hindered by it;
#   - the vault healthy (kmc status), and run again: a FILE the broken
#     run left whole is refused (exit 8) and kept, else it is written.
# An existing FILE, or one another process makes while ref runs, is
# never written over: exit 8 naming it, its bytes as they were.
#
# make check: one step in FAIL_STRIDE (2) failing, one in KILL_STRIDE (2)
# killed, the last always; one own allocation in OWN_STRIDE (4) past the
# open. make check-full (KMC_STEP_STRIDE=1, KMC_ALLOC_STRIDE=1): each.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
OUTF=$T/server.ref
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ] || ! command -v openssl >/dev/null 2>&1; then
	done_testing
	exit
fi

PROV=(-provider-path "$KMC_BUILD/provider" -provider kmc -provider default)
P=$T/pki
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P"
t "kmc init" look init
t "import the bundle server" look import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key"
rm -rf "$T/saved" && cp -a "$V" "$T/saved" && state_save "$V" "$T/saved.state"
load() {
	rm -rf "$V" "$OUTF" "$T"/.server.ref* && cp -a "$T/saved" "$V" &&
		state_load "$V" "$T/saved.state"
}
SERVER_PUB=$(openssl x509 -in "$P/server.crt" -noout -pubkey | sha256sum)

not() { ! "$@" 2>/dev/null; }
# whole: FILE 0644, and openssl takes the server's key through it.
whole() {
	local mode pub
	mode=$(stat -c %a "$OUTF" 2>&1)
	[ "$mode" = 644 ] || { echo "$OUTF: mode $mode" >&2; return 1; }
	pub=$(timeout 20 openssl pkey "${PROV[@]}" -in "$OUTF" -pubout 2>"$T/ossl.err" | sha256sum)
	[ "$pub" = "$SERVER_PUB" ] ||
		{ echo "openssl did not load the key from $OUTF: $(head -3 "$T/ossl.err"); it holds: $(head -c 300 "$OUTF")" >&2; false; }
}
absent_or_whole() { [ ! -e "$OUTF" ] || whole; }
# whole() can fail: a reference cut short does not load.
look ref server --out "$OUTF" >/dev/null 2>&1
check "a whole reference loads" whole
head -c 80 "$OUTF" >"$OUTF.cut" && mv "$OUTF.cut" "$OUTF" && chmod 644 "$OUTF"
check "a cut-off reference file is told from a whole one" not whole
rm -f "$OUTF"
temps() { # into LEFT: the temporaries beside FILE, and in the vault
	shopt -s nullglob
	LEFT=("$T"/.server.ref* "$V"/.*.tmp-*)
	shopt -u nullglob
}
no_tmp_left() {
	temps
	[ ${#LEFT[@]} = 0 ] || { echo "left behind: ${LEFT[*]}" >&2; false; }
}
healthy() {
	look status --json >"$T/status" 2>&1
	grep -q '"healthy":true' "$T/status" || { cat "$T/status" >&2; false; }
}
names_fault() {
	[[ $(cat "$RUN_ERR") =~ $FAULT_MSG && $(cat "$RUN_ERR") == "kmc: "* ]] ||
		{ echo "exit $rc: $(cat "$RUN_ERR")" >&2; false; }
}
says_kmc() { [[ $(cat "$RUN_ERR") == "kmc: "* ]] || { echo "exit $rc: $(cat "$RUN_ERR")" >&2; false; }; }
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
no_san_report() { ! grep -Eq "$SAN_MSG" "$RUN_ERR" || { cat "$RUN_ERR" >&2; false; }; }
again() { # run again: a whole FILE left refused and kept; else written
	local before= r
	[ ! -e "$OUTF" ] || before=$(sha256sum <"$OUTF")
	look ref server --out "$OUTF" >/dev/null 2>"$T/again.err"
	r=$?
	if [ -n "$before" ]; then
		[ "$r" = 8 ] && grep -q "$OUTF" "$T/again.err" && [ "$(sha256sum <"$OUTF")" = "$before" ] ||
			{ echo "over a whole FILE: exit $r: $(cat "$T/again.err")" >&2; return 1; }
	else
		[ "$r" = 0 ] || { echo "exit $r: $(cat "$T/again.err")" >&2; return 1; }
	fi
	whole
}

NO_TMPFILE=
faulty() { # faulty N KILL: CMD under the shim; sets rc and steps
	local asan=$RUN_ASAN_OPTIONS
	rm -f "$COUNT"
	{ ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$1" KMC_FAULT_KILL="$2" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_NEAR="$FAULT_NEAR" \
		KMC_FAULT_NO_TMPFILE="$NO_TMPFILE" KMC_FAULT_MAKE="${FAULT_MAKE:-}" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "${CMD[@]}" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
FAULT_OPS=
FAULT_NEAR=0
CMD=(ref server --out "$OUTF")
KILL_TEMPS=0

one_run() { # the checks after a broken run (MODE fail, kill or alloc; AT names it)
	case $MODE in
	kill) check "$AT: the shim killed it" killed ;;
	*)
		if [ "$rc" = 0 ]; then
			check "$AT, yet exit 0: FILE whole" whole
		else
			check "$AT: exits non-zero without a crash" no_crash
			if [ "$MODE" = fail ]; then
				check "$AT: the message starts 'kmc: ' and names the fault" names_fault
			else
				check "$AT: a message starting 'kmc: '" says_kmc
			fi
			check "$AT: no FILE left" test ! -e "$OUTF"
		fi
		check "$AT: no memory error report" no_san_report
		;;
	esac
	check "$AT: FILE absent or whole, never part of one" absent_or_whole
	if [ "$MODE" = kill ] && [ -n "$NO_TMPFILE" ]; then
		temps
		if [ ${#LEFT[@]} != 0 ]; then
			KILL_TEMPS=$((KILL_TEMPS + 1))
			check "$AT: what is left is FILE's temporary alone" \
				bash -c '[ $# = 1 ] && [[ ${1##*/} == .server.ref.tmp-* ]]' _ "${LEFT[@]}"
		fi
	else
		check "$AT: nothing temporary left" no_tmp_left
	fi
	check "$AT: the vault is healthy" healthy
	check "$AT: run again, a whole FILE left is kept, else FILE is written" again
}

FAIL_STRIDE=${KMC_STEP_STRIDE:-2}
KILL_STRIDE=${KMC_STEP_STRIDE:-2}
step_sweep() {
	local total t0=$SECONDS
	load
	faulty 0 0
	check "$WHAT under the shim without a fault succeeds" test "$rc" = 0
	check "$WHAT under the shim: FILE whole" whole
	check "the shim counted the steps of $WHAT" test "$steps" -gt 4
	total=$steps
	KILL_TEMPS=0
	each_step "$total" 0
	kills_wanted || skip_kills "$WHAT"
	echo "# $WHAT: $total steps, failing 1 in $FAIL_STRIDE, killed 1 in $KILL_STRIDE;" \
		"a temporary left by $KILL_TEMPS kills; $((SECONDS - t0)) s"
}

OWN_STRIDE=${KMC_ALLOC_STRIDE:-4}
own_alloc_sweep() { # kmc's own allocations (NEAR 4) failing, one in OWN_STRIDE
	local n total fails=0 t0=$SECONDS label="$WHAT, own allocation"
	load
	FAULT_OPS=alloc FAULT_NEAR=4 faulty 0 0
	check "${label}s counted: succeeds without a fault" test "$rc" = 0
	total=$steps
	check "the shim counted the ${label}s" test "$total" -gt 10
	[ -z "${KMC_SANITIZED:-}" ] || [ -n "${KMC_ALLOC_STRIDE:-}" ] || OWN_STRIDE=$((2 * OWN_STRIDE))
	for ((n = 1; n <= total; n += OWN_STRIDE)); do
		MODE=alloc
		AT="$label $n of $total failing"
		load
		FAULT_OPS=alloc FAULT_NEAR=4 faulty "$n" 0
		[ "$rc" = 0 ] || fails=$((fails + 1))
		one_run
	done
	check "the shim is active: with some ${label} failing, $WHAT failed" test "$fails" -gt 0
	echo "# ${label}s: $total, 1 in $OWN_STRIDE tried, $fails failed; $((SECONDS - t0)) s"
}

WHAT="ref server --out"
step_sweep
own_alloc_sweep

WHAT="ref server --out, no O_TMPFILE"
NO_TMPFILE=1
step_sweep

# ---- an existing FILE, or one made while ref runs, is never written over ---------
OTHERS='made by another process'
# left_alone: exit 8 naming FILE, the other's bytes in it, nothing
# temporary left, the vault healthy.
left_alone() {
	[ "$rc" = 8 ] && grep -q "$OUTF" "$RUN_ERR" ||
		{ echo "exit $rc: $(cat "$RUN_ERR")" >&2; return 1; }
	[ "$(cat "$OUTF")" = "$OTHERS" ] ||
		{ echo "FILE was written over: $(head -c 100 "$OUTF")" >&2; return 1; }
	no_tmp_left && healthy
}
for NO_TMPFILE in '' 1; do
	way=$([ -z "$NO_TMPFILE" ] && echo 'O_TMPFILE' || echo 'no O_TMPFILE')
	load
	FAULT_MAKE= faulty 0 0
	total=$steps
	# the step that gives FILE its name
	load
	{ LD_PRELOAD="$SO" KMC_FAULT_TRACE=1 KMC_FAULT_NO_TMPFILE="$NO_TMPFILE" "$KMC" --vault "$V" \
		"${CMD[@]}" >/dev/null 2>"$T/trace" </dev/null; } 2>/dev/null
	placed=$(sed -n 's/^faultinject: #\([0-9]*\) \(linkat\|renameat\) server\.ref$/\1/p' "$T/trace")
	check "($way) the shim's trace shows the step that gives FILE its name" \
		bash -c '[ -n "$1" ] && [ "$2" -ge "$1" ]' _ "$placed" "$total"
	# FILE there before the run: refused, each step failing or killed too.
	for ((n = 0; n <= total; n++)); do
		[ "${KMC_STEP_STRIDE:-}" = 1 ] || [ "$n" = 0 ] || [ "$n" -ge "$((placed - 1))" ] || continue
		for kill in 0 $(kills_wanted && [ "$n" != 0 ] && echo 1); do
			load
			printf '%s\n' "$OTHERS" >"$OUTF"
			chmod 600 "$OUTF"
			FAULT_MAKE= faulty "$n" "$kill"
			what="($way) FILE there before, $([ "$kill" = 1 ] && echo killed || echo failing) at step $n of $total"
			check "$what: FILE as it was" \
				bash -c '[ "$(cat "$1")" = "$2" ] && [ "$(stat -c %a "$1")" = 600 ]' _ "$OUTF" "$OTHERS"
			[ "$kill" = 1 ] || [ "$n" != 0 ] || check "$what: refused" left_alone
			[ "$kill" = 1 ] || check "$what: exit non-zero, 'kmc: '" \
				bash -c '[ "$1" != 0 ] && [ "$1" -lt 128 ] && [[ $(cat "$2") == "kmc: "* ]]' _ "$rc" "$RUN_ERR"
		done
	done
	# Made by another process at each step in turn: before the step that
	# names FILE, left alone and refused; after, ours was there first.
	for ((n = 1; n <= total; n++)); do
		[ "${KMC_STEP_STRIDE:-}" = 1 ] || [ $((n % 2)) = 1 ] ||
			{ [ $((n - placed)) -ge -1 ] && [ $((n - placed)) -le 1 ]; } || continue
		load
		FAULT_MAKE=$OUTF faulty "$n" 0
		if [ "$n" -le "$placed" ]; then
			check "($way) FILE made at step $n of $total: left alone, refused" left_alone
		else
			check "($way) FILE made at step $n of $total (after ours): ours, whole" \
				bash -c '[ "$1" = 0 ]' _ "$rc"
			check "($way) ... FILE whole" whole
		fi
	done
done

# ---- neither O_TMPFILE nor RENAME_NOREPLACE (NFS) --------------------------------
# The named temporary then takes FILE's name by a hard link, which
# refuses a name there as atomically, and drops its own name (the
# shim's KMC_FAULT_NO_NOREPLACE: renameat2 with the flag fails with
# EINVAL, as on NFS, where ref --out failed so).
nfs() {
	{ LD_PRELOAD="$SO" KMC_FAULT_NO_TMPFILE=1 KMC_FAULT_NO_NOREPLACE=1 "$@" "$KMC" --vault "$V" \
		"${CMD[@]}" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
}
written() { [ "$rc" = 0 ] || { echo "exit $rc: $(cat "$RUN_ERR")" >&2; return 1; }; whole && no_tmp_left; }
load
nfs
check "(no O_TMPFILE, no RENAME_NOREPLACE) ref --out writes FILE whole, nothing left" written
load
nfs env KMC_FAULT_TRACE=1
linked=$(sed -n 's/^faultinject: #\([0-9]*\) linkat server\.ref$/\1/p' "$RUN_ERR")
check "(no O_TMPFILE, no RENAME_NOREPLACE) the trace shows the link that names FILE" test -n "$linked"
load
nfs env KMC_FAULT_AT="$linked" KMC_FAULT_MAKE="$OUTF"
check "(no O_TMPFILE, no RENAME_NOREPLACE) FILE made just before that link: left alone, refused" left_alone

done_testing
