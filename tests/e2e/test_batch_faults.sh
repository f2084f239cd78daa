#!/usr/bin/env bash
# test_batch_faults.sh - kmc password set --batch, which replaces two
# passwords and adds a third in one transaction: each step failing,
# killed at each step, and each allocation failing (faults.sh). Whatever
# breaks, the vault holds the batch whole or not at all: the old two
# passwords and no third, or all three new ones, never a mix.
#
# Time: make check fails and kills at one step in STEP_STRIDE (2) and one
# allocation in KMC_ALLOC_STRIDE (faults.sh); make check-full
# (KMC_STEP_STRIDE=1, KMC_ALLOC_STRIDE=1) tries each.
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

STEP_STRIDE=${KMC_STEP_STRIDE:-2}
BV=$T/bv
BATCH=$T/batch.txt
(umask 077 && printf '# two replaced, one new\ndb new password\nother new other\nthird new third\n' >"$BATCH")
"$KMC" --vault "$BV" init 2>/dev/null

set_old() { # db and other hold their old passwords; third is absent
	"$KMC" --vault "$BV" password set db --password-file "$OLD" 2>/dev/null &&
		"$KMC" --vault "$BV" password set other --password-file "$OLD" 2>/dev/null &&
		{ "$KMC" --vault "$BV" rm third 2>/dev/null || true; }
}
get() { "$KMC_LOOK" --vault "$BV" password get "$1" 2>/dev/null; }
all_old() {
	[ "$(get db)" = 'old password' ] && [ "$(get other)" = 'old password' ] &&
		! get third >/dev/null ||
		{ echo "db '$(get db)', other '$(get other)', third '$(get third)'" >&2; false; }
}
all_new() {
	[ "$(get db)" = 'new password' ] && [ "$(get other)" = 'new other' ] &&
		[ "$(get third)" = 'new third' ] ||
		{ echo "db '$(get db)', other '$(get other)', third '$(get third)'" >&2; false; }
}
whole=
old_or_new() { # the batch whole or not at all; which one into whole
	if all_old 2>/dev/null; then whole=old
	elif all_new 2>/dev/null; then whole=new
	else all_new; false
	fi
}
run_batch() { faulty "$1" "$KMC" --vault "$BV" password set --batch "$BATCH"; }

# Twice: the first write grows the store, and LMDB then writes one
# stretch less into the pages it freed; every later run is like the second.
set_old
run_batch 0
set_old
run_batch 0
check "password set --batch under the shim without a fault succeeds" test "$rc" = 0
check "... and stored all three" all_new
check "the shim counted the steps of password set --batch" test "$steps" -gt 1
total=$steps

for ((n = 1; n <= total; n += STEP_STRIDE)); do
	at="password set --batch, step $n of $total failing"
	set_old
	run_batch "$n"
	if [ "$rc" != 0 ]; then
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message names the fault" names_fault
		check "$at: nothing of the batch is stored" all_old
	else
		check "$at yet exit 0: all of the batch is stored" all_new
	fi
	check "$at: the vault is healthy" healthy "$BV"
	check "$at: no temporary files" no_temp_files "$BV"
done

olds=0 news=0
kills_wanted || skip_kills "password set --batch"
for ((n = 1; n <= $(kills_wanted && echo "$total" || echo 0); n += STEP_STRIDE)); do
	at="password set --batch, killed at step $n of $total"
	set_old
	FAULT_KILL=1 run_batch "$n"
	check "$at: the shim killed it" killed
	check "$at: the batch is there whole or not at all" old_or_new
	[ "$whole" = old ] && olds=$((olds + 1)) || news=$((news + 1))
	before=$whole
	check "$at: kmc repair succeeds" repaired "$BV"
	check "$at: after repair, the vault is healthy" healthy "$BV"
	check "$at: after repair, the same as before it" "all_$before"
done
echo "# password set --batch, killed at each step: none of it $olds times, all of it $news"

set_old
FAULT_OPS=$ALLOC_OPS run_batch 0
check "password set --batch, allocations counted: succeeds without a fault" test "$rc" = 0
check "the shim counted the allocations of password set --batch" test "$steps" -gt 5
alloc_steps=$steps
fails=0
alloc_ns "$alloc_steps"
for n in "${ALLOC_NS[@]}"; do
	at="password set --batch, allocation $n of $alloc_steps failing"
	set_old
	FAULT_OPS=$ALLOC_OPS run_batch "$n"
	if [ "$rc" != 0 ]; then
		fails=$((fails + 1))
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message says it ran out of memory" names_oom
		check "$at: nothing of the batch is stored" all_old
	else
		check "$at yet exit 0: all of the batch is stored" all_new
	fi
	check "$at: the vault is healthy" healthy "$BV"
done
echo "# password set --batch, allocations failing: failed $fails times of ${#ALLOC_NS[@]} tried of $alloc_steps"

done_testing
