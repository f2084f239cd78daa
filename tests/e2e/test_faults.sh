#!/usr/bin/env bash
# test_faults.sh - every write path broken halfway. Under the fault shim
# (tests/faultinject.c) a command is first run once to count its steps
# (file-system calls that create, write, sync, link or rename), then once
# for each step N with step N failing. After each run the vault must be in
# one of the two states a user can rely on: the old one, with a clear
# error, or the new one, with success; never a vault that does not open,
# and never temporary files left behind.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SO=$KMC_BUILD/tests/faultinject.so
COUNT=$T/count
FAULT_MSG='Input/output error|No space left on device'
RUN_OUT=$T/run.out
RUN_ERR=$T/run.err
OLD=$T/pw.old
secret_file "$OLD" 'old password'
NEW=$T/pw.new
secret_file "$NEW" 'new password'

# faulty N CMD...: run CMD with step N failing (0: none), output kept in
# RUN_OUT/RUN_ERR; sets rc and steps (the count the shim wrote at exit).
faulty() {
	local n=$1
	shift
	rm -f "$COUNT"
	env LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_COUNT="$COUNT" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=$(cat "$COUNT" 2>/dev/null || echo 0)
}
# Diagnostics go to stderr, which check prints on failure.
names_fault() { # the failed command's message names the fault
	grep -Eq "$FAULT_MSG" "$RUN_ERR" && grep -q '^kmc: ' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
no_crash() { [ "$rc" -lt 128 ] || { echo "killed by a signal: exit $rc" >&2; false; }; }
no_temp_files() { # no-temp-files DIR: no .NAME.tmp-* left in DIR
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.tmp-*' -printf '%f ')
	[ -z "$left" ] || { echo "left behind in $1: $left" >&2; false; }
}
reads_as() { # reads_as VAULT TEXT: password db is exactly TEXT
	local got
	got=$("$KMC" --vault "$1" password get db 2>&1)
	[ "$got" = "$2" ] || { echo "password get: '$got', wanted '$2'" >&2; false; }
}
healthy() {
	"$KMC" --vault "$1" status >/dev/null 2>"$T/status.err" ||
		{ cat "$T/status.err" >&2; false; }
}

check "the fault shim was built" test -f "$SO"

# ---- kmc init ------------------------------------------------------------------------
# Twice: with a fresh host key each time, so that creating it is among the
# steps, and with a host key made beforehand.

IV=$T/iv
KEYS=$T/keys
mkdir -m 700 "$KEYS"
export KMC_HOST_KEY=$KEYS/host.key
reset_init() { # reset_init new|existing: no vault, the host key as asked
	rm -rf "$IV" "$T"/.iv.init-*
	rm -f "$KEYS"/.host.key.tmp-*
	if [ "$1" = new ]; then
		rm -f "$KMC_HOST_KEY"
	else
		cp -p "$T/host.key.kept" "$KMC_HOST_KEY"
	fi
}
init_left_nothing() {
	local left
	[ ! -e "$IV" ] || { echo "$IV exists after a failed init: $(ls -A "$IV" | tr '\n' ' ')" >&2; return 1; }
	left=$(find "$T" -maxdepth 1 -name '.iv.init-*' -printf '%f ')
	[ -z "$left" ] || { echo "temporary directory left: $left" >&2; return 1; }
}
vault_works() { # a complete vault: healthy, and a password goes in and out
	healthy "$1" &&
		"$KMC" --vault "$1" password set db --password-file "$NEW" 2>/dev/null &&
		reads_as "$1" 'new password'
}
# init_faults new|existing: init with each of its steps failing in turn.
init_faults() {
	local key=$1 what="init ($1 host key)" n init_steps
	reset_init "$key"
	faulty 0 "$KMC" --vault "$IV" init
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "the shim counted the steps of $what" test "$steps" -gt 5
	init_steps=$steps
	reset_init "$key"
	faulty 1 "$KMC" --vault "$IV" init
	check "the shim is active: $what fails when its first step fails" test "$rc" != 0

	for ((n = 1; n <= init_steps; n++)); do
		reset_init "$key"
		faulty "$n" "$KMC" --vault "$IV" init
		if [ "$rc" != 0 ]; then
			check "$what, step $n of $init_steps failing: exits non-zero without a crash" no_crash
			check "$what, step $n failing: no vault and no temporary directory left" \
				init_left_nothing
			check "$what, step $n failing: the message names the fault" names_fault
			check "$what, step $n failing: no temporary host key file left" \
				no_temp_files "$KEYS"
			check "$what, step $n failing: a second init succeeds" \
				bash -c 'rm -rf "$2" && "$1" --vault "$2" init 2>/dev/null' _ "$KMC" "$IV"
			check "$what, step $n failing: ... with a vault that works" vault_works "$IV"
		else
			check "$what, step $n of $init_steps failing yet exit 0: the vault works" \
				vault_works "$IV"
			check "$what, step $n failing yet exit 0: no temporary files" no_temp_files "$IV"
		fi
	done
}

init_faults new
"$KMC" --vault "$T/keymaker" init 2>/dev/null
cp -p "$KMC_HOST_KEY" "$T/host.key.kept"
init_faults existing

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

done_testing
