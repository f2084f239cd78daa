#!/usr/bin/env bash
# test_faults_password.sh - kmc password set replacing a password, and the
# same command when it rewrites a deleted kmc.ks, then kmc repair doing
# that: each step failing, killed at each step, and (password set) each
# allocation failing (faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

# ---- kmc password set, replacing an existing password ---------------------------------

PV=$T/pv
"$KMC" --vault "$PV" init 2>/dev/null
set_old() { "$KMC" --vault "$1" password set db --password-file "$OLD" 2>/dev/null; }
set_old "$PV"
faulty 0 "$KMC" --vault "$PV" password set db --password-file "$NEW"
check "password set under the shim without a fault succeeds" test "$rc" = 0
check "the shim counted the steps of password set" test "$steps" -gt 1
set_steps=$steps

for ((n = 1; n <= set_steps; n++)); do
	set_old "$PV"
	faulty "$n" "$KMC" --vault "$PV" password set db --password-file "$NEW"
	if [ "$rc" != 0 ]; then
		check "password set, step $n of $set_steps failing: exits non-zero without a crash" no_crash
		check "password set, step $n failing: the message names the fault" names_fault
		check "password set, step $n failing: the old password is still there" \
			reads_as "$PV" 'old password'
	else
		check "password set, step $n of $set_steps failing yet exit 0: the new password is there" \
			reads_as "$PV" 'new password'
	fi
	check "password set, step $n failing: the vault is healthy" healthy "$PV"
	check "password set, step $n failing: no temporary files" no_temp_files "$PV"
done

# Killed at each step: the old password or the new, the same after kmc
# repair, and the vault healthy.
olds=0 news=0
kills_wanted || skip_kills "password set"
for ((n = 1; n <= $(kills_wanted && echo "$set_steps" || echo 0); n++)); do
	at="password set, killed at step $n of $set_steps"
	set_old "$PV"
	FAULT_KILL=1 faulty "$n" "$KMC" --vault "$PV" password set db --password-file "$NEW"
	check "$at: the shim killed it" killed
	check "$at: password get gives the old password or the new" reads_old_or_new "$PV"
	before=$got_pw
	[ "$before" = 'old password' ] && olds=$((olds + 1)) || news=$((news + 1))
	check "$at: kmc repair succeeds" repaired "$PV"
	check "$at: after repair, the vault is healthy" healthy "$PV"
	check "$at: after repair, the same password as before it" reads_as "$PV" "$before"
done
echo "# password set, killed at each step: the old password $olds times, the new $news"

# Each allocation failing in turn.
set_old "$PV"
FAULT_OPS=$ALLOC_OPS faulty 0 "$KMC" --vault "$PV" password set db --password-file "$NEW"
check "password set, allocations counted: succeeds without a fault" test "$rc" = 0
check "the shim counted the allocations of password set" test "$steps" -gt 5
alloc_steps=$steps
fails=0
alloc_ns "$alloc_steps"
for n in "${ALLOC_NS[@]}"; do
	at="password set, allocation $n of $alloc_steps failing"
	set_old "$PV"
	FAULT_OPS=$ALLOC_OPS faulty "$n" "$KMC" --vault "$PV" password set db --password-file "$NEW"
	if [ "$rc" != 0 ]; then
		fails=$((fails + 1))
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message says it ran out of memory" names_oom
		check "$at: the old password is still there" reads_as "$PV" 'old password'
	else
		check "$at yet exit 0: the new password is there" reads_as "$PV" 'new password'
	fi
	check "$at: the vault is healthy" healthy "$PV"
	check "$at: no temporary files" no_temp_files "$PV"
done
echo "# password set, allocations failing: failed $fails times of ${#ALLOC_NS[@]} tried of $alloc_steps"

# ---- repairing a deleted kmc.ks (the write that rewrites it) ----------------------------

RV=$T/rv
"$KMC" --vault "$RV" init 2>/dev/null
break_rv() { set_old "$RV" && rm "$RV/kmc.ks"; }
keystore_whole() { # kmc.ks is absent or exactly its twin, never half made
	[ ! -e "$RV/kmc.ks" ] || cmp -s "$RV/kmc.ks" "$RV/StandbyKsf.ks" ||
		{ echo "kmc.ks differs from StandbyKsf.ks" >&2; false; }
}
break_rv
faulty 0 "$KMC" --vault "$RV" password set db --password-file "$NEW"
check "the repairing write under the shim without a fault succeeds" test "$rc" = 0
check "... and it repaired kmc.ks" cmp -s "$RV/kmc.ks" "$RV/StandbyKsf.ks"
repair_steps=$steps

for ((n = 1; n <= repair_steps; n++)); do
	break_rv
	faulty "$n" "$KMC" --vault "$RV" password set db --password-file "$NEW"
	if [ "$rc" != 0 ]; then
		check "repair, step $n of $repair_steps failing: exits non-zero without a crash" no_crash
		check "repair, step $n failing: the message names the fault" names_fault
		check "repair, step $n failing: the old password is still there" \
			reads_as "$RV" 'old password'
	else
		check "repair, step $n of $repair_steps failing yet exit 0: the new password is there" \
			reads_as "$RV" 'new password'
	fi
	check "repair, step $n failing: kmc.ks is absent or whole" keystore_whole
	check "repair, step $n failing: no temporary files" no_temp_files "$RV"
	check "repair, step $n failing: a later write leaves the vault healthy" \
		bash -c '"$1" --vault "$2" password set db --password-file "$3" 2>/dev/null &&
			"$1" --vault "$2" status >/dev/null 2>&1' _ "$KMC" "$RV" "$OLD"
done

# repair_kills WHAT CMD...: with kmc.ks deleted, CMD (which repairs it)
# killed at each of its steps in turn; then another kmc repair makes the
# vault healthy, kmc.ks the twin of StandbyKsf.ks, and the password the
# old one or the new, as it was before that repair.
repair_kills() {
	local what=$1 n at total before temps=0
	shift
	kills_wanted || { skip_kills "$what"; return; }
	break_rv
	faulty 0 "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "$what: the shim counted its steps" test "$steps" -gt 3
	total=$steps
	for ((n = 1; n <= total; n++)); do
		at="$what, killed at step $n of $total"
		rm -f "$RV"/.*.tmp-*	# a kill before left them; each run on its own
		break_rv
		FAULT_KILL=1 faulty "$n" "$@"
		check "$at: the shim killed it" killed
		check "$at: kmc.ks is absent or whole" keystore_whole
		[ "$(count_temp_files "$RV")" = 0 ] || temps=$((temps + 1))
		check "$at: password get gives the old password or the new" reads_old_or_new "$RV"
		before=$got_pw
		check "$at: another kmc repair succeeds" repaired "$RV"
		check "$at: after it, the vault is healthy" healthy "$RV"
		check "$at: after it, kmc.ks is the twin of StandbyKsf.ks" twins "$RV"
		check "$at: after it, the same password as before it" reads_as "$RV" "$before"
	done
	rm -f "$RV"/.*.tmp-*
	echo "# $what, killed at each step: a .kmc.ks.tmp-* was left $temps times of $total"
}
repair_kills "the repairing write (password set)" \
	"$KMC" --vault "$RV" password set db --password-file "$NEW"
repair_kills "kmc repair" "$KMC" --vault "$RV" repair

done_testing
