# faults.sh - sourced by the test_faults_*.sh suites: every write path
# broken halfway. Under the fault shim (tests/faultinject.c) a command is first run once to count its steps
# (file-system calls that create, write, sync, link or rename), then once
# for each step N with step N failing. After each run the vault must be in
# one of the two states a user can rely on: the old one, with a clear
# error, or the new one, with success; never a vault that does not open,
# and never temporary files left behind.
#
# A second pass kills the process at each step instead (KMC_FAULT_KILL=1:
# SIGKILL, a crash or power cut there): afterwards the vault must again be
# the whole old state or the whole new one, once `kmc repair` has run where
# a vault exists. A killed process cleans nothing up, so here temporary
# files may stay behind: a killed init can leave its hidden build directory
# .NAME.init-* (and a .host.key.tmp-* or a fresh host key without a vault),
# a killed keystore write its .kmc.ks.tmp-*; nothing removes them later,
# and the tests only ask that they never get in the way (a second init, a
# repair, a later write all succeed) and count them.
#
# A third pass makes the Nth allocation fail instead (malloc, calloc,
# realloc, sodium_malloc: KMC_FAULT_OPS=alloc) for init and password set:
# each run must succeed or fail with a message that says it ran out of
# memory and an exit code below 128 (never a crash), leaving the old state
# or the new one. Their counts are small (some 50 to 130 allocations a
# run, at up to half a CPU-second each with the checks): make check
# tries the odd N as built for release, make check-sanitize the even ones
# under ASan (the last in both), so that CI tries each once; make
# check-full (KMC_ALLOC_STRIDE=1) each in both builds.
#
# The suites: test_faults_init_new.sh and test_faults_init_existing.sh
# (kmc init, with a host key it makes and with one made beforehand: the
# init functions below), test_faults_password.sh (password set, and the
# write that repairs a deleted kmc.ks), test_unwrap_faults.sh (unwrap
# --out: the whole key or no file, never part of one).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

# alloc_ns TOTAL: the N an allocation pass tries (above), into ALLOC_NS.
alloc_ns() {
	local total=$1 k=${KMC_ALLOC_STRIDE:-2} n=1
	[ -n "${KMC_ALLOC_STRIDE:-}" ] || [ -z "${KMC_SANITIZED:-}" ] || n=2
	ALLOC_NS=()
	for (( ; n <= total; n += k)); do ALLOC_NS+=("$n"); done
	((total < 1)) || [ "${ALLOC_NS[-1]:-}" = "$total" ] || ALLOC_NS+=("$total")
}

OLD=$T/pw.old
secret_file "$OLD" 'old password'
NEW=$T/pw.new
secret_file "$NEW" 'new password'

# faulty N CMD...: run CMD with step N failing (0: none), output kept in
# RUN_OUT/RUN_ERR; sets rc and steps (the count the shim wrote at exit).
# FAULT_KILL=1 kills the process at step N instead; FAULT_OPS narrows the
# counted calls (the shim's KMC_FAULT_OPS; empty: its default).
FAULT_KILL=0
FAULT_OPS=
faulty() {
	local n=$1
	shift
	rm -f "$COUNT"
	# The group's stderr takes bash's "Killed" notice for a killed run.
	local asan=$RUN_ASAN_OPTIONS
	[ -z "$FAULT_OPS" ] || asan=$ALLOC_ASAN_OPTIONS
	{ env ASAN_OPTIONS="$asan" LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_COUNT="$COUNT" \
		KMC_FAULT_KILL="$FAULT_KILL" KMC_FAULT_OPS="$FAULT_OPS" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=$(cat "$COUNT" 2>/dev/null || echo 0)
}
ALLOC_OPS=alloc	# malloc, calloc, realloc and sodium_malloc
OOM_MSG='out of memory|Cannot allocate memory'
# Diagnostics go to stderr, which check prints on failure.
names_fault() { # the failed command's message names the fault
	grep -Eq "$FAULT_MSG" "$RUN_ERR" && grep -q '^kmc: ' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
names_oom() { # the failed command's message says it ran out of memory
	grep -Eq "$OOM_MSG" "$RUN_ERR" && grep -q '^kmc: ' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
count_temp_files() { find "$1" -maxdepth 1 -name '.*.tmp-*' | wc -l; }
no_temp_files() { # no-temp-files DIR: no .NAME.tmp-* left in DIR
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.tmp-*' -printf '%f ')
	[ -z "$left" ] || { echo "left behind in $1: $left" >&2; false; }
}
reads_as() { # reads_as VAULT TEXT: password db is exactly TEXT
	local got
	got=$("$KMC_LOOK" --vault "$1" password get db 2>&1)
	[ "$got" = "$2" ] || { echo "password get: '$got', wanted '$2'" >&2; false; }
}
got_pw=
reads_old_or_new() { # reads_old_or_new VAULT: the old password or the new; into got_pw
	got_pw=$("$KMC_LOOK" --vault "$1" password get db 2>&1)
	[ "$got_pw" = 'old password' ] || [ "$got_pw" = 'new password' ] ||
		{ echo "password get: '$got_pw', wanted the old or the new password" >&2; false; }
}
healthy() {
	"$KMC_LOOK" --vault "$1" status >/dev/null 2>"$T/status.err" ||
		{ cat "$T/status.err" >&2; false; }
}
repaired() { # kmc repair succeeds (exit 0: both keystores ok, nothing pending)
	"$KMC" --vault "$1" repair >/dev/null 2>"$T/repair.err" ||
		{ echo "kmc repair: exit $?: $(cat "$T/repair.err")" >&2; false; }
}
twins() { cmp -s "$1/kmc.ks" "$1/StandbyKsf.ks" || { echo "kmc.ks and StandbyKsf.ks differ" >&2; false; }; }

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
	local key=$1 what="init ($1 host key)" n
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

init_temp_dirs() { find "$T" -maxdepth 1 -name '.iv.init-*' -printf '%f '; }
status_no_vault() { # kmc status of the target: exit 7, "does not exist"
	local st
	"$KMC_LOOK" --vault "$IV" status >/dev/null 2>"$T/status.err"
	st=$?
	[ "$st" = 7 ] && grep -q 'does not exist' "$T/status.err" ||
		{ echo "status: exit $st: $(cat "$T/status.err")" >&2; false; }
}
init_again() { # a second init, whatever the killed one left beside the target
	"$KMC" --vault "$IV" init 2>"$T/init.err" >/dev/null ||
		{ echo "init: exit $?: $(cat "$T/init.err")" >&2; false; }
}
host_key_kept() { cmp -s "$KMC_HOST_KEY" "$T/host.key.kept" || { echo "the host key changed" >&2; false; }; }
init_whole_vault() { # the killed init's vault: complete, and no temp dir beside it
	local left
	left=$(init_temp_dirs)
	[ -z "$left" ] || { echo "a vault, and a temporary directory beside it: $left" >&2; false; }
}
# init_kills new|existing STEPS: init killed at each of its steps in turn.
# Either no vault (kmc status says so; a hidden .iv.init-* may be left:
# the process died with it) and a second init succeeds, or a complete
# vault that works.
init_kills() {
	local key=$1 total=$2 what="init ($1 host key)" n at none=0 whole=0 temps=0 hktemps=0
	kills_wanted || { skip_kills "$what"; return; }
	for ((n = 1; n <= total; n++)); do
		at="$what, killed at step $n of $total"
		reset_init "$key"
		FAULT_KILL=1 faulty "$n" "$KMC" --vault "$IV" init
		check "$at: the shim killed it" killed
		[ "$key" = new ] || check "$at: the existing host key is untouched" host_key_kept
		if [ -e "$IV" ]; then
			whole=$((whole + 1))
			check "$at: a vault was left: no temporary directory beside it" init_whole_vault
			check "$at: a vault was left: no temporary files in it" no_temp_files "$IV"
			check "$at: a vault was left: it is complete (status 0) and works" vault_works "$IV"
		else
			none=$((none + 1))
			[ -z "$(init_temp_dirs)" ] || temps=$((temps + 1))
			[ "$(count_temp_files "$KEYS")" = 0 ] || hktemps=$((hktemps + 1))
			check "$at: no vault: kmc status of the target reports none" status_no_vault
			check "$at: no vault: init run again succeeds" init_again
			check "$at: no vault: ... with a vault that works" vault_works "$IV"
		fi
	done
	echo "# $what, killed at each step: no vault $none times" \
		"(a hidden .iv.init-* left $temps times, a .host.key.tmp-* $hktemps times)," \
		"a complete vault $whole times"
}
# init_allocs new|existing: init with each allocation failing in turn.
init_allocs() {
	local key=$1 what="init ($1 host key)" n at total fails=0
	reset_init "$key"
	FAULT_OPS=$ALLOC_OPS faulty 0 "$KMC" --vault "$IV" init
	check "$what, allocations counted: succeeds without a fault" test "$rc" = 0
	check "the shim counted the allocations of $what" test "$steps" -gt 5
	total=$steps
	alloc_ns "$total"
	for n in "${ALLOC_NS[@]}"; do
		at="$what, allocation $n of $total failing"
		reset_init "$key"
		FAULT_OPS=$ALLOC_OPS faulty "$n" "$KMC" --vault "$IV" init
		[ "$key" = new ] || check "$at: the existing host key is untouched" host_key_kept
		if [ "$rc" != 0 ]; then
			fails=$((fails + 1))
			check "$at: exits non-zero without a crash" no_crash
			check "$at: the message says it ran out of memory" names_oom
			check "$at: no vault and no temporary directory left" init_left_nothing
			check "$at: no temporary host key file left" no_temp_files "$KEYS"
		else
			check "$at yet exit 0: the vault works" vault_works "$IV"
			check "$at yet exit 0: no temporary files" no_temp_files "$IV"
		fi
	done
	echo "# $what, allocations failing: failed $fails times of ${#ALLOC_NS[@]} tried of $total"
}

