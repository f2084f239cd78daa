# faultlib.sh - what every fault suite shares: sourced instead of lib.sh
# by faults.sh, import_faults.sh, protector_faults.sh and
# test_backup_faults.sh, which break a command at every step under the
# fault shim (tests/faultinject.c).
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
killed() { [ "$rc" = 137 ] || { echo "exit $rc, not killed (137): $(cat "$RUN_ERR")" >&2; false; }; }
