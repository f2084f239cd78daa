#!/usr/bin/env bash
# test_protector_faults_recovery.sh - kmc protector add recovery: each step
# failing, each allocation failing; a recovery protector left in the vault
# must have had its key shown (protector_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/protector_faults.sh"

restore "$HOST_ONLY"
faulty 0 -- setsid -w "$KMC" --vault "$V" protector add recovery
check "protector add recovery under the shim without a fault succeeds" test "$rc" = 0
rec_steps=$steps
for ((n = 1; n <= rec_steps; n++)); do
	restore "$HOST_ONLY"
	faulty "$n" -- setsid -w "$KMC" --vault "$V" protector add recovery
	check "protector add recovery, step $n of $rec_steps failing: kmc repair succeeds" repaired
	check "protector add recovery, step $n failing: a recovery protector left in the vault had its key shown" \
		recovery_as_shown
	check "protector add recovery, step $n failing: opens with its host key" opens_with_host_key
done

# Each allocation failing: the checks of its failing steps above.
t0=$SECONDS
restore "$HOST_ONLY"
faulty_alloc 0 protector add recovery
check "protector add recovery, allocations counted: succeeds without a fault" test "$rc" = 0
check "protector add recovery: the shim counted its allocations" test "$steps" -gt 5
total=$steps
alloc_points "$total"
fails=0 oks=0 notoom=0
for n in "${POINTS[@]}"; do
	at="protector add recovery, allocation $n of $total failing"
	restore "$HOST_ONLY"
	faulty_alloc "$n" protector add recovery
	if [ "$rc" != 0 ]; then
		fails=$((fails + 1))
		grep -Eq "$OOM_MSG" "$RUN_ERR" || notoom=$((notoom + 1))
		check "$at: exits non-zero without a crash" no_crash
		check "$at: a message starting 'kmc: ', no memory error report" says_kmc
	else
		oks=$((oks + 1))
	fi
	check "$at: kmc repair succeeds" repaired
	check "$at: a recovery protector left in the vault had its key shown" recovery_as_shown
	check "$at: opens with its host key" opens_with_host_key
	check "$at: no .NAME.kmc-new nor temporary file left" no_staged_files
done
alloc_summary "protector add recovery"

done_testing
