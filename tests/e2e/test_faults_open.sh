#!/usr/bin/env bash
# test_faults_open.sh - a vault opened while memory runs out: each of
# kmc's own allocations (KMC_FAULT_NEAR: those with kmc's code up to 4
# calls above, LMDB's environment and read transactions among them) of a
# reader (kmc password get) and of a writer (kmc password set, whose open
# also finishes cut-off changes) failing in turn.
#
# After each broken run: exit 0, or exit 1 with "kmc: ... out of memory";
# never exit 6 (an I/O fault: LMDB's ENOMEM was once reported as
# "items.mdb: Cannot allocate memory", exit 6), exit 4 (damage) or a
# crash; the writer's password is the old one or the new, and the vault
# healthy (kmc status).
#
# Every allocation is tried: some 65 runs a command, well under a second
# each.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sweeplib.sh"

t "kmc init" look init
printf 'old-password\n' >"$T/old.pw" && printf 'new-password\n' >"$T/new.pw" &&
	chmod 600 "$T/old.pw" "$T/new.pw"
t "password set db" look password set db --password-file "$T/old.pw"
rm -rf "$T/saved" && cp -a "$V" "$T/saved" && state_save "$V" "$T/saved.state"
load() { rm -rf "$V" && cp -a "$T/saved" "$V" && state_load "$V" "$T/saved.state"; }

says_oom() {
	slurp "$RUN_ERR"
	[ "$rc" = 1 ] && [[ $REPLY == "kmc: "* ]] && [[ $REPLY == *"out of memory"* ]] &&
		! [[ $REPLY == *"Cannot allocate memory"* ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
password_is() { # password_is WORD...: the password db is one of them
	local got w
	got=$(look password get db 2>&1) || { echo "password get: $got" >&2; return 1; }
	for w in "$@"; do [ "$got" = "$w" ] && return 0; done
	echo "password get: $got" >&2
	false
}
healthy() { look status >"$TMPF" 2>&1 || { echo "kmc status: $(cat "$TMPF")" >&2; false; }; }

# open_sweep WHAT WANT... -- ARGS...: kmc ARGS with each of kmc's own
# allocations failing; after each, the password one of WANT.
open_sweep() {
	local what=$1 n total fails=0 t0=$SECONDS
	local -a want=()
	shift
	while [ "$1" != -- ]; do want+=("$1"); shift; done
	shift
	CMD=("$@")
	load
	FAULT_OPS=alloc FAULT_NEAR=4 faulty 0 0
	check "$what: succeeds under the shim with nothing failing" test "$rc" = 0
	total=$steps
	check "$what: the shim counted its allocations" test "$total" -gt 20
	for ((n = 1; n <= total; n++)); do
		AT="$what, allocation $n of $total failing"
		load
		FAULT_OPS=alloc FAULT_NEAR=4 faulty "$n" 0
		check "$AT: no crash" no_crash
		if [ "$rc" != 0 ]; then
			fails=$((fails + 1))
			check "$AT: exit 1, out of memory (not I/O, not damage)" says_oom
		fi
		check "$AT: the password is the old or the new" password_is "${want[@]}"
		check "$AT: the vault is healthy" healthy
	done
	check "$what: the shim is active: some allocations failing failed it" test "$fails" -gt 0
	echo "# $what: $total allocations, each failing: $fails failed; $((SECONDS - t0)) s"
}

open_sweep "password get db" old-password -- password get db
open_sweep "password set db" old-password new-password -- \
	password set db --password-file "$T/new.pw"

done_testing
