# faultlib.sh - what every fault suite shares: sourced instead of lib.sh
# by faults.sh, import_faults.sh, protector_faults.sh, mk_faults.sh,
# trust_faults.sh, ca_faults.sh, test_backup_faults.sh and
# test_ref_faults.sh, which break a
# command at every step under the fault shim (tests/faultinject.c); the
# CA and trust suites share their sweeps too (sweeplib.sh).
#
# The temp dir goes on tmpfs (lib.sh's ON_TMPFS): every run syncs,
# hundreds of times over. The inspections after each run skip the leak
# check and, under make check-sanitize, run the release build
# (quiet_inspections, KMC_LOOK in lib.sh).
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SO=$KMC_BUILD/tests/faultinject.so	# the shim, LD_PRELOADed by each faulty run
quiet_inspections
COUNT=$T/count				# where the shim writes the steps it counted
FAULT_MSG='Input/output error|No space left on device'	# what a failed step says
RUN_OUT=$T/run.out			# the broken run's output
RUN_ERR=$T/run.err
check "the fault shim was built" test -f "$SO"

# After a broken run (rc): no signal but the kill the shim was asked for.
no_crash() {
	[ "$rc" -lt 128 ] ||
		{ echo "killed by a signal: exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
# Under make check-sanitize (KMC_SANITIZED=1) the passes that kill a
# command at each step are left to make check: a run killed at step N has
# run exactly the code that the run failing at step N runs, instrumented,
# up to that step, and what a kill leaves behind is the same in either
# build. kill_mode prints "kill" when they run; skip_kills says why not.
kills_wanted() { [ -z "${KMC_SANITIZED:-}" ]; }
kill_mode() { kills_wanted && echo kill || true; }
# each_step TOTAL KILL_PHASE: the steps 1..TOTAL of $WHAT, failing (one
# in FAIL_STRIDE from the first, and the last), then killed where
# kill_mode allows (those where n % KILL_STRIDE is KILL_PHASE, and the
# last): for each, MODE and AT set, the suite's load, faulty N KILL and
# its one_run.
each_step() {
	local total=$1 phase=$2 mode n kill
	for mode in fail $(kill_mode); do
		for ((n = 1; n <= total; n++)); do
			if [ "$mode" = fail ]; then
				[ $((n % FAIL_STRIDE)) = 1 ] || [ "$FAIL_STRIDE" = 1 ] ||
					[ "$n" = "$total" ] || continue
			else
				[ $((n % KILL_STRIDE)) = "$phase" ] || [ "$KILL_STRIDE" = 1 ] ||
					[ "$n" = "$total" ] || continue
			fi
			MODE=$mode
			AT="$WHAT, step $n of $total failing"
			[ "$mode" = fail ] || AT="$WHAT, killed at step $n of $total"
			load
			kill=0
			[ "$mode" = fail ] || kill=1
			faulty "$n" "$kill"
			one_run
		done
	done
}
skip_kills() { echo "# skip: $1 killed at each step: make check runs it (see faultlib.sh)"; }
killed() { [ "$rc" = 137 ] || { echo "exit $rc, not killed (137): $(cat "$RUN_ERR")" >&2; false; }; }
