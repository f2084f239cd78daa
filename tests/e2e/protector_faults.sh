# protector_faults.sh - sourced by the test_protector_faults_*.sh suites:
# `kmc protector add passphrase`, `kmc protector remove` and `kmc
# protector add recovery` on a host-protected vault with each of their
# steps broken in turn by the fault shim (tests/faultinject.c): first the
# step fails (ENOSPC or EIO), then the process is killed at that step
# (KMC_FAULT_KILL=1). After each run and a `kmc repair`, the vault has
# either the old set of protectors or the new one, opens with its host
# key, and both keystores are healthy; a failure that reports "nothing
# changed" must have changed nothing, and one that says the change was
# made must have made it. A recovery protector left in the vault must
# have had its key shown, or, when writing the key is the step that
# fails, the command must fail and say so. Last, each command with its allocations
# counted instead (KMC_FAULT_OPS=alloc: malloc, calloc, realloc) and the
# Nth failing: it must succeed, or exit below 128 with a "kmc: " line;
# then the same checks as a failed step.
#
# The suites, one a command: test_protector_faults_add.sh,
# test_protector_faults_remove.sh, test_protector_faults_recovery.sh.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

PW=$T/pw
secret_file "$PW" 'db password 1'
PP=$T/pp
secret_file "$PP" 'a new vault passphrase'
V=$T/v
kmc() { setsid -w "$KMC" --vault "$V" "$@"; } # no terminal: nothing waits for a prompt
look() { setsid -w "$KMC_LOOK" --vault "$V" "$@"; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

# faulty N [KILL] -- CMD...: run CMD with step N failing (0: none), or the
# process killed at step N when KILL is 1; sets rc and steps.
faulty() {
	local n=$1 kill=0
	shift
	[ "$1" = -- ] || { kill=$1; shift; }
	shift
	rm -f "$COUNT"
	# The group's stderr takes bash's "Killed" notice for a killed run.
	{ env ASAN_OPTIONS="$RUN_ASAN_OPTIONS" LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" KMC_FAULT_COUNT="$COUNT" \
		"$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=$(cat "$COUNT" 2>/dev/null || echo 0)
}

# The two vaults every run starts from, copied fresh each time.
HOST_ONLY=$T/host-only
TWO=$T/two
setsid -w "$KMC" --vault "$HOST_ONLY" init 2>/dev/null
setsid -w "$KMC" --vault "$HOST_ONLY" password set db --password-file "$PW" 2>/dev/null
state_save "$HOST_ONLY" "$HOST_ONLY.state"
cp -a "$HOST_ONLY" "$TWO"
setsid -w "$KMC" --vault "$TWO" protector add passphrase --passphrase-file "$PP" \
	--argon2-ops 1 --argon2-mem 8 2>/dev/null
SET_HOST='[{"id":1,"type":"host"}]'
SET_TWO='[{"id":1,"type":"host"},{"id":2,"type":"passphrase"}]'
set_of() { look protector list --json 2>/dev/null | jq -c 'map({id, type})'; }
state_save "$TWO" "$TWO.state"
# The state file beside the host key goes back with the folder (lib.sh).
restore() { rm -rf "$V" && cp -a "$1" "$V" && state_load "$V" "$1.state"; }
restore "$HOST_ONLY"
check "the starting vault has protector set $SET_HOST" test "$(set_of)" = "$SET_HOST"
restore "$TWO"
check "the vault for removal has protector set $SET_TWO" test "$(set_of)" = "$SET_TWO"

names_fault() {
	grep -Eq "$FAULT_MSG" "$RUN_ERR" && grep -q '^kmc: ' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
no_temp_files() {
	local left
	left=$(find "$V" -maxdepth 1 -name '.*.tmp-*' -printf '%f ')
	[ -z "$left" ] || { echo "left behind in $V: $left" >&2; false; }
}
repaired() { # kmc repair succeeds
	kmc repair >/dev/null 2>"$T/repair.err" || { cat "$T/repair.err" >&2; false; }
}
healthy() { # both keystores ok, identical, and status exits 0
	look status --json >"$T/st.json" 2>"$T/st.err" &&
		jq -e '.healthy and .keystores["kmc.ks"].state == "ok" and
			.keystores["StandbyKsf.ks"].state == "ok"' "$T/st.json" >/dev/null &&
		cmp -s "$V/kmc.ks" "$V/StandbyKsf.ks" ||
		{ cat "$T/st.json" "$T/st.err" >&2; false; }
}
set_is_old_or_new() { # set_is_old_or_new OLD NEW
	local got
	got=$(set_of)
	[ "$got" = "$1" ] || [ "$got" = "$2" ] || { echo "protector set: $got" >&2; false; }
}
opens_with_host_key() { # password get db through the host protector, nothing else tried
	local got
	got=$(look password get db 2>"$T/get.err") && [ "$got" = 'db password 1' ] &&
		[ ! -s "$T/get.err" ] || { echo "password get: '$got' $(cat "$T/get.err")" >&2; false; }
}
passphrase_opens() { # the passphrase alone (no host key) opens the vault
	local got
	got=$(KMC_HOST_KEY=$T/no-such-host.key look password get db --passphrase-file "$PP" \
		2>"$T/get.err") && [ "$got" = 'db password 1' ] ||
		{ echo "password get: '$got' $(cat "$T/get.err")" >&2; false; }
}
not() { ! "$@" 2>/dev/null; }
# What a failed command told the user, against what it left: "nothing
# changed" means the old set; "the change is in kmc.ks" the new one; a
# failure that says neither did not happen either.
outcome_as_told() { # outcome_as_told OLD NEW
	local got want
	got=$(set_of)
	if [ "$rc" = 0 ] || grep -q 'the change is in kmc\.ks' "$RUN_ERR"; then
		want=$2
	else
		want=$1
	fi
	[ "$got" = "$want" ] ||
		{ echo "exit $rc, told: $(cat "$RUN_ERR"); protector set after repair: $got" >&2; false; }
}

# run_faults WHAT FROM OLD NEW KILL CMD...: CMD on a copy of FROM, with each
# step failing (KILL 0) or killed (KILL 1) in turn.
run_faults() {
	local what=$1 from=$2 old=$3 new=$4 kill=$5 n total mode
	shift 5
	restore "$from"
	faulty 0 -- "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "$what: the shim counted its steps" test "$steps" -gt 5
	check "$what without a fault: the set becomes $new" test "$(set_of)" = "$new"
	total=$steps
	[ "$kill" = 1 ] && mode=killed || mode=failing
	for ((n = 1; n <= total; n++)); do
		restore "$from"
		faulty "$n" "$kill" -- "$@"
		if [ "$kill" = 1 ]; then
			check "$what, step $n of $total $mode: the process was killed there" test "$rc" = 137
		elif [ "$rc" != 0 ]; then
			check "$what, step $n of $total $mode: exits non-zero without a crash" no_crash
			check "$what, step $n $mode: the message names the fault" names_fault
			check "$what, step $n $mode: no temporary files" no_temp_files
		fi
		check "$what, step $n $mode: kmc repair succeeds" repaired
		check "$what, step $n $mode: the set is the old or the new one" set_is_old_or_new "$old" "$new"
		[ "$kill" = 1 ] ||
			check "$what, step $n $mode: the set is what the message said" outcome_as_told "$old" "$new"
		check "$what, step $n $mode: both keystores healthy after repair" healthy
		check "$what, step $n $mode: opens with its host key" opens_with_host_key
		if [ "$(set_of)" = "$SET_TWO" ]; then
			check "$what, step $n $mode: the passphrase protector works" passphrase_opens
		else
			check "$what, step $n $mode: no passphrase protector opens it" \
				not passphrase_opens
		fi
	done
}

ADD=(setsid -w "$KMC" --vault "$V" protector add passphrase --passphrase-file "$PP"
	--argon2-ops 1 --argon2-mem 8)
REMOVE=(setsid -w "$KMC" --vault "$V" protector remove 2)
# run_kills WHAT FROM OLD NEW CMD...: run_faults killing CMD at each step,
# when the shim can.
run_kills() {
	if ! kills_wanted; then
		skip_kills "$1"
	elif grep -aq KMC_FAULT_KILL "$SO"; then
		run_faults "$1" "$2" "$3" "$4" 1 "${@:5}"
	else
		echo "# skip: this fault shim has no KMC_FAULT_KILL (tests/faultinject.c); the killed half did not run"
	fi
}

# A recovery key is shown once, when its protector is made: a run that
# leaves a recovery protector in the vault must have printed its key,
# and that key must open the vault.
REC=$T/recovery
recovery_as_shown() {
	if ! set_of | jq -e 'any(.[]; .type == "recovery")' >/dev/null; then
		[ ! -s "$RUN_OUT" ] || { echo "a key was printed for a protector that is not there" >&2; false; }
		return
	fi
	# When the write of the key itself fails, the key cannot be shown:
	# then the command must fail and say what to do with the slot.
	if ! grep -Eqx '([0-9A-Z]{6}-){7}[0-9A-Z]{6}' "$RUN_OUT"; then
		[ "$rc" != 0 ] && grep -q '^kmc: writing to standard output' "$RUN_ERR" &&
			grep -q '^kmc: nobody has the key of protector [0-9]*: remove it' "$RUN_ERR" &&
			return 0
		echo "exit $rc, told: $(cat "$RUN_ERR"); the vault has a recovery protector whose key was never shown" >&2
		return 1
	fi
	(umask 077 && cp "$RUN_OUT" "$REC")
	KMC_HOST_KEY=$T/no-such-host.key look password get db --recovery-file "$REC" >/dev/null 2>&1 ||
		{ echo "the key printed does not open the vault" >&2; false; }
}

# ---- allocations failing ---------------------------------------------------------
# Each command's allocations counted once (KMC_FAULT_OPS=alloc: malloc,
# calloc, realloc, sodium_malloc), then the Nth failing. These commands
# make some 40 to 55, at about half a second a run: make check fails the
# odd ones as built for release, make check-sanitize the even ones under
# ASan (the last in both), so that CI fails each once within its 20
# minutes; were there more than ALLOC_ALL, every k-th would run, k =
# ceil(TOTAL / ALLOC_RUNS). KMC_ALLOC_STRIDE=k sets k (make check-full:
# 1, each in both builds).

# faulty_alloc N ARGS...: kmc ARGS (on $V, without a terminal) with its
# Nth allocation failing (0: none); sets rc and steps. The shim goes into
# kmc alone: setsid's own allocations would be counted, and fail, too.
faulty_alloc() {
	local n=$1
	shift
	rm -f "$COUNT"
	setsid -w env ASAN_OPTIONS="$ALLOC_ASAN_OPTIONS" LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_OPS=alloc \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=$(cat "$COUNT" 2>/dev/null || echo 0)
}
ALLOC_ALL=400
ALLOC_RUNS=150
alloc_points() { # alloc_points TOTAL: the N to run, into POINTS; k into STRIDE
	local total=$1 k n
	k=${KMC_ALLOC_STRIDE:-}
	ALLOC_FROM=1
	if [ -z "$k" ]; then
		k=2
		[ -z "${KMC_SANITIZED:-}" ] || ALLOC_FROM=2
		[ "$total" -le "$ALLOC_ALL" ] || k=$(((total + ALLOC_RUNS - 1) / ALLOC_RUNS))
	fi
	POINTS=()
	for ((n = ALLOC_FROM; n <= total; n += k)); do POINTS+=("$n"); done
	((total < 1)) || [ "${POINTS[-1]}" = "$total" ] || POINTS+=("$total")
	STRIDE=$k
}
# A "kmc: " line, and no sanitizer's or libc's report of a memory error
# (a sanitizer may exit below 128).
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
says_kmc() {
	grep -q '^kmc: ' "$RUN_ERR" && ! grep -Eq "$SAN_MSG" "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
OOM_MSG='out of memory|Cannot allocate memory'
no_staged_files() { # no .NAME.tmp-* nor .NAME.kmc-new left in the vault
	local left
	left=$(find "$V" -maxdepth 1 \( -name '.*.tmp-*' -o -name '.*.kmc-new' \) -printf '%f ')
	[ -z "$left" ] || { echo "left behind in $V: $left" >&2; false; }
}
alloc_summary() { # alloc_summary WHAT: after a pass, what it saw
	echo "# $1, allocations: $total; ran ${#POINTS[@]}" \
		"($([ "$STRIDE" = 1 ] && echo each || echo "1 in every $STRIDE from number $ALLOC_FROM, and the last")):" \
		"exit 0 $oks times, failed $fails ($notoom of them without 'out of memory' in the message);" \
		"$((SECONDS - t0)) s"
}

# run_allocs WHAT FROM OLD NEW ARGS...: kmc ARGS on a copy of FROM, with each
# allocation failing in turn; the checks of run_faults for a failed step.
run_allocs() {
	local what=$1 from=$2 old=$3 new=$4 n at total fails=0 oks=0 notoom=0 t0=$SECONDS
	shift 4
	restore "$from"
	faulty_alloc 0 "$@"
	check "$what, allocations counted: succeeds without a fault" test "$rc" = 0
	check "$what: the shim counted its allocations" test "$steps" -gt 5
	check "$what, allocations counted: the set becomes $new" test "$(set_of)" = "$new"
	total=$steps
	alloc_points "$total"
	for n in "${POINTS[@]}"; do
		at="$what, allocation $n of $total failing"
		restore "$from"
		faulty_alloc "$n" "$@"
		if [ "$rc" != 0 ]; then
			fails=$((fails + 1))
			grep -Eq "$OOM_MSG" "$RUN_ERR" || notoom=$((notoom + 1))
			check "$at: exits non-zero without a crash" no_crash
			check "$at: a message starting 'kmc: ', no memory error report" says_kmc
		else
			oks=$((oks + 1))
		fi
		check "$at: no temporary files" no_temp_files
		check "$at: kmc repair succeeds" repaired
		check "$at: the set is the old or the new one" set_is_old_or_new "$old" "$new"
		check "$at: the set is what the message said" outcome_as_told "$old" "$new"
		check "$at: both keystores healthy after repair" healthy
		check "$at: opens with its host key" opens_with_host_key
		if [ "$(set_of)" = "$SET_TWO" ]; then
			check "$at: the passphrase protector works" passphrase_opens
		else
			check "$at: no passphrase protector opens it" not passphrase_opens
		fi
		check "$at: no .NAME.kmc-new nor temporary file left" no_staged_files
	done
	alloc_summary "$what"
}
