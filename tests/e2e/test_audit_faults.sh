#!/usr/bin/env bash
# test_audit_faults.sh - kmc password set in a vault with an audit log,
# each step failing and killed at each step (faults.sh): the steps of
# appending the change's records (open, write, fdatasync of audit.log)
# are among them. A change whose first record cannot be written is not
# made; whatever the step, the log still verifies after the next writable
# open, and a password the store holds always has its record.
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

AV=$T/av
"$KMC" --vault "$AV" init 2>/dev/null
set_old() { "$KMC" --vault "$1" password set db --password-file "$OLD" 2>/dev/null; }
set_old "$AV"
faulty 0 "$KMC" --vault "$AV" password set db --password-file "$NEW"
check "password set under the shim without a fault succeeds" test "$rc" = 0
check "the shim counted the steps of password set" test "$steps" -gt 1
set_steps=$steps

# The audit log verifies (exit 0).
verifies() {
	"$KMC_LOOK" --vault "$1" audit verify >/dev/null 2>"$T/verify.err" ||
		{ echo "kmc audit verify: exit $?: $(cat "$T/verify.err")" >&2; false; }
}
# The version password db has now was recorded as a change of db.
recorded() {
	local v
	v=$("$KMC_LOOK" --vault "$1" list --json 2>/dev/null | grep -o '"name":"db"[^}]*"version":[0-9]*' | grep -o '[0-9]*$')
	"$KMC_LOOK" --vault "$1" audit --item db --json 2>/dev/null |
		grep '"op":"kmc_item_put"' | grep -q "\"name\":\"db\",\"version\":$v[,}]" ||
		{ echo "no record of db version '$v' by kmc_item_put" >&2; false; }
}
# No record says this change was made when it was not: the last record
# of kmc_item_put is a refusal, or the old password's.
pending_count() { "$KMC_LOOK" --vault "$AV" audit --json 2>/dev/null | grep -c '"result":"pending"'; }

refused=0
for ((n = 1; n <= set_steps; n++)); do
	at="password set, step $n of $set_steps failing"
	set_old "$AV"
	before=$(pending_count)
	faulty "$n" "$KMC" --vault "$AV" password set db --password-file "$NEW"
	if [ "$rc" != 0 ]; then
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message names the fault" names_fault
		check "$at: the old password is still there" reads_as "$AV" 'old password'
		if grep -q 'audit.log' "$RUN_ERR"; then
			refused=$((refused + 1))
			check "$at: refused for audit.log: exit 13" test "$rc" = 13
			check "$at: refused for audit.log: no pending record added" \
				test "$(pending_count)" = "$before"
		fi
	else
		check "$at yet exit 0: the new password is there" reads_as "$AV" 'new password'
	fi
	check "$at: the vault is healthy" healthy "$AV"
	check "$at: the password's version was recorded" recorded "$AV"
	check "$at: a writable open, then the audit log verifies" repaired "$AV"
	check "$at: the audit log verifies" verifies "$AV"
done
echo "# password set, each step failing: refused for audit.log $refused times of $set_steps"
check "some step is audit.log's, and its failure refuses the change" test "$refused" -gt 0

olds=0 news=0
kills_wanted || skip_kills "password set with the audit log"
for ((n = 1; n <= $(kills_wanted && echo "$set_steps" || echo 0); n++)); do
	at="password set, killed at step $n of $set_steps"
	set_old "$AV"
	FAULT_KILL=1 faulty "$n" "$KMC" --vault "$AV" password set db --password-file "$NEW"
	check "$at: the shim killed it" killed
	check "$at: password get gives the old password or the new" reads_old_or_new "$AV"
	[ "$got_pw" = 'old password' ] && olds=$((olds + 1)) || news=$((news + 1))
	check "$at: kmc repair succeeds" repaired "$AV"
	check "$at: the password's version was recorded" recorded "$AV"
	check "$at: after repair, the audit log verifies" verifies "$AV"
	check "$at: no change left pending in the log" \
		sh -c "! \"$KMC_LOOK\" --vault \"$AV\" audit --json | tail -n 1 | grep -q '\"result\":\"pending\"'"
done
echo "# password set with the audit log, killed at each step: the old password $olds times, the new $news"

# ---- a keystore change killed at each step --------------------------------------------
# mk rotate writes its pending record, then both keystores: after the
# next writable open the log says whether it was made, as the keystores do.
KV=$T/kv
"$KMC" --vault "$KV" init 2>/dev/null
cp -a "$KV" "$T/kv.orig"
# The state file beside the host key only moves forward: kept and put
# back with the folder, or the copy put back is a rolled-back vault.
state_save "$KV" "$T/kv.state"
faulty 0 "$KMC" --vault "$KV" mk rotate
ks_steps=$steps
# the log's last word on the rotation matches the master keys there are
rotation_told() {
	local last mks
	last=$("$KMC_LOOK" --vault "$KV" audit --json 2>/dev/null | grep '"op":"kmc_mk_rotate"' | tail -n 1)
	mks=$("$KMC_LOOK" --vault "$KV" mk list --json 2>/dev/null | jq length)
	case $mks in
	1) [ -z "$last" ] || grep -q '"result":"not made (cut off)"' <<<"$last" ;;
	2) grep -Eq '"result":"ok( \(found made at the next open\))?"' <<<"$last" ;;
	*) false ;;
	esac || { echo "$mks master keys, last record: $last" >&2; false; }
}
kills_wanted || skip_kills "mk rotate with the audit log"
for ((n = 1; n <= $(kills_wanted && echo "$ks_steps" || echo 0); n++)); do
	at="mk rotate, killed at step $n of $ks_steps"
	rm -rf "$KV" && cp -a "$T/kv.orig" "$KV" && state_load "$KV" "$T/kv.state"
	FAULT_KILL=1 faulty "$n" "$KMC" --vault "$KV" mk rotate
	check "$at: the shim killed it" killed
	check "$at: kmc repair succeeds" repaired "$KV"
	check "$at: the log tells the outcome the keystores show" rotation_told
	check "$at: the audit log verifies" verifies "$KV"
done

# ---- rotation under faults -----------------------------------------------------------
# Two puts with 512-byte segments (about one record a segment): each
# append may rename audit.log to a segment and remove the oldest. Each
# step failing, and killed at each: after the next writable open the
# chain verifies, and a password the run stored has its record.
FILL=$T/audit_fill
check "the audit_fill helper builds" kmc_cc "$FILL" "$KMC_TOP/tests/e2e/audit_fill.c" -I"$KMC_TOP"
RV=$T/rv
"$KMC" --vault "$RV" init 2>/dev/null
"$FILL" "$RV" 1024 20 2>/dev/null	# 8 segments already
cp -a "$RV" "$T/rv.orig"
state_save "$RV" "$T/rv.state"
fresh_rv() { rm -rf "$RV" && cp -a "$T/rv.orig" "$RV" && state_load "$RV" "$T/rv.state"; }
# fill-0 and fill-1, which the two puts replace: a version the run made
# has its record (the records of older ones may be in removed segments)
version_of() { # version_of VAULT NAME
	"$KMC_LOOK" --vault "$1" list --json 2>/dev/null |
		grep -o "\"name\":\"$2\"[^}]*\"version\":[0-9]*" | grep -o '[0-9]*$'
}
# The versions before the runs, read now: once a run moved the state
# file on, the copy is a rolled-back vault and does not open.
declare -A orig_version
for n in fill-0 fill-1; do orig_version[$n]=$(version_of "$RV" "$n"); done
check "the versions before the runs were read" test -n "${orig_version[fill-0]}" -a -n "${orig_version[fill-1]}"
all_recorded() {
	local n v
	for n in fill-0 fill-1; do
		v=$(version_of "$RV" "$n")
		[ "$v" != "${orig_version[$n]}" ] || continue
		cat "$RV"/audit*.log | grep '"op":"kmc_item_put"' |
			grep -q "\"name\":\"$n\",\"version\":$v[,}]" ||
			{ echo "no record of $n version '$v'" >&2; return 1; }
	done
}
faulty 0 "$FILL" "$RV" 512 2
check "two puts under the shim without a fault succeed" test "$rc" = 0
rot_steps=$steps
removals() { cat "$RV"/audit*.log | grep -c '"op":"audit segment removed"'; }
before_rm=$(cat "$T"/rv.orig/audit*.log | grep -c '"op":"audit segment removed"')
check "they removed an old segment, and said so" test "$(removals)" -gt "$before_rm"
check "... and kept 8 segments" \
	test "$(find "$RV" -maxdepth 1 -name 'audit-*.log' | wc -l)" = 8
for mode in fail $(kill_mode); do
	for ((n = 1; n <= rot_steps; n++)); do
		at="two puts rotating, step $n of $rot_steps ${mode}ed"
		fresh_rv
		FAULT_KILL=$([ "$mode" = kill ] && echo 1 || echo 0) faulty "$n" "$FILL" "$RV" 512 2
		if [ "$mode" = kill ]; then
			check "$at: the shim killed it" killed
		else
			check "$at: no crash" no_crash
		fi
		check "$at: a writable open, then" repaired "$RV"
		check "$at: the chain verifies" verifies "$RV"
		check "$at: every password stored has its record" all_recorded
		# The record kmc.bind vouches for is found wherever the cut
		# left it (audit.log, a segment renamed or not yet pruned).
		check "$at: the next change is not refused" \
			"$KMC" --vault "$RV" password set db --password-file "$NEW"
	done
done

# ---- a change cut off, then many reads before the next writable open -----------
# A kill between a change's two records leaves its pending record without
# an outcome, which the next writable open adds. Reads in between (servers
# starting after a crash) may push that record out of the tail that open
# reads: it is then found from the record kmc.bind vouches for.
CV=$T/cv
"$KMC" --vault "$CV" init 2>/dev/null
for i in $(seq 0 299); do echo "r$i pw$i"; done >"$T/batch"
chmod 600 "$T/batch"
"$KMC" --vault "$CV" password set --batch "$T/batch" 2>/dev/null
set_old "$CV"
cp -a "$CV" "$T/cv.orig"
state_save "$CV" "$T/cv.state"
faulty 0 "$KMC" --vault "$CV" password set db --password-file "$NEW"
cut_steps=$steps
cut_at() { # cut_at N: the vault as it was, password set killed at step N
	rm -rf "$CV" && cp -a "$T/cv.orig" "$CV" && state_load "$CV" "$T/cv.state"
	FAULT_KILL=1 faulty "$1" "$KMC" --vault "$CV" password set db --password-file "$NEW"
}
# The steps whose kill leaves the pending record last; the reads and
# checks (half a second each) for the first, the middle and the last of
# them (before kmc.bind names it, before the commit, after it) unless
# KMC_STEP_STRIDE=1 asks for all.
cuts=()
kills_wanted || skip_kills "a cut-off change and many reads"
for ((n = 1; n <= $(kills_wanted && echo "$cut_steps" || echo 0); n++)); do
	cut_at "$n"
	! tail -n 1 "$CV/audit.log" | grep -q '"result":"pending"' || cuts+=("$n")
done
kills_wanted && check "some kill left a change's pending record last" test "${#cuts[@]}" -gt 0
picked=("${cuts[@]}")
[ "${KMC_STEP_STRIDE:-}" = 1 ] || [ "${#cuts[@]}" -lt 3 ] ||
	picked=("${cuts[0]}" "${cuts[${#cuts[@]} / 2]}" "${cuts[-1]}")
for n in ${picked[@]+"${picked[@]}"}; do
	cut_at "$n"
	at="password set killed at step $n of $cut_steps, its pending record last, then 300 reads"
	pseq=$(tail -n 1 "$CV/audit.log" | grep -o '"seq":[0-9]*' | cut -d: -f2)
	check "$at: the reads" "$FILL" "$CV" each r 300
	check "$at: they pushed the record more than 64 KiB back" \
		test $(($(stat -c %s "$CV/audit.log") - $(grep -b "\"seq\":$pseq," "$CV/audit.log" | cut -d: -f1))) -gt 65536
	check "$at: kmc repair succeeds" repaired "$CV"
	check "$at: kmc repair again" repaired "$CV"
	check "$at: the outcome is written once, as the store shows it" \
		test "$(grep -c "\"of\":$pseq," "$CV/audit.log")" = 1
	check "$at: ... as the store shows it" sh -c "
		if [ \"\$('$KMC_LOOK' --vault '$CV' password get db 2>/dev/null)\" = 'new password' ]; then
			grep -q '\"of\":$pseq,\"result\":\"ok (found made at the next open)\"' '$CV/audit.log'
		else
			grep -q '\"of\":$pseq,\"result\":\"not made (cut off)\"' '$CV/audit.log'
		fi"
	check "$at: the log verifies" verifies "$CV"
done

done_testing
