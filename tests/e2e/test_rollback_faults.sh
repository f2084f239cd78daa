#!/usr/bin/env bash
# test_rollback_faults.sh - kmc repair --accept-rollback, the write that
# binds a rolled-back vault again (kmc.bind and the state file beside the
# host key), with each step failing and killed at each step (faults.sh).
# Every run leaves the rolled-back vault still refused (exit 12, nothing
# accepted) or accepted whole; a second --accept-rollback then always
# works, and the vault reads the value the put-back store holds. The
# binding's writes inside every change are swept by
# test_faults_password.sh (password set), and the others' fault suites.
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

RV=$T/rv
HD=$(dirname "$KMC_HOST_KEY")
"$KMC" --vault "$RV" init 2>/dev/null
"$KMC" --vault "$RV" password set db --password-file "$OLD" 2>/dev/null
cp -p "$RV/items.mdb" "$T/items.old"
"$KMC" --vault "$RV" password set db --password-file "$NEW" 2>/dev/null
cp -p "$T/items.old" "$RV/items.mdb" && rm -f "$RV/items.mdb-lock"
# The rolled-back vault, kept with its state file (lib.sh) for each run.
rm -rf "$T/rolled" && cp -a "$RV" "$T/rolled" && state_save "$RV" "$T/rolled.state"
load() { rm -rf "$RV" && cp -a "$T/rolled" "$RV" && state_load "$RV" "$T/rolled.state"; }

refused() { # the vault is still refused as rolled back: exit 12
	"$KMC_LOOK" --vault "$RV" password get db >/dev/null 2>"$T/ref.err"
	local st=$?
	[ "$st" = 12 ] && grep -q 'accept-rollback' "$T/ref.err" ||
		{ echo "password get: exit $st: $(cat "$T/ref.err")" >&2; false; }
}
accepted() { # a second --accept-rollback works, and the put-back value reads
	"$KMC" --vault "$RV" repair --accept-rollback >/dev/null 2>"$T/acc.err" ||
		{ echo "repair --accept-rollback: exit $?: $(cat "$T/acc.err")" >&2; false; } &&
		reads_as "$RV" 'old password' && healthy "$RV"
}
refused_or_accepted() {
	refused 2>/dev/null || { reads_as "$RV" 'old password' && healthy "$RV"; }
}

load
check "the rolled-back vault is refused before any repair" refused
faulty 0 "$KMC" --vault "$RV" repair --accept-rollback
check "repair --accept-rollback under the shim without a fault succeeds" test "$rc" = 0
check "... and the put-back value reads" reads_as "$RV" 'old password'
check "the shim counted the steps of repair --accept-rollback" test "$steps" -gt 1
acc_steps=$steps

for ((n = 1; n <= acc_steps; n++)); do
	at="repair --accept-rollback, step $n of $acc_steps failing"
	load
	faulty "$n" "$KMC" --vault "$RV" repair --accept-rollback
	if [ "$rc" != 0 ]; then
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message names the fault" names_fault
		# Failing once the binding is renamed in (its folder's fsync,
		# or the status kmc repair reads after), it is accepted.
		check "$at: still refused as rolled back, or accepted whole" refused_or_accepted
	else
		check "$at yet exit 0: accepted whole" reads_as "$RV" 'old password'
	fi
	check "$at: no temporary files in the vault" no_temp_files "$RV"
	check "$at: no temporary files beside the host key" no_temp_files "$HD"
	check "$at: a second --accept-rollback works" accepted
done

kills_wanted || skip_kills "repair --accept-rollback"
for ((n = 1; n <= $(kills_wanted && echo "$acc_steps" || echo 0); n++)); do
	at="repair --accept-rollback, killed at step $n of $acc_steps"
	load
	FAULT_KILL=1 faulty "$n" "$KMC" --vault "$RV" repair --accept-rollback
	check "$at: the shim killed it" killed
	check "$at: still refused, or accepted whole" refused_or_accepted
	check "$at: a second --accept-rollback works" accepted
done

done_testing
