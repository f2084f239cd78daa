# sweeplib.sh - what the CA and trust fault suites share (ca_faults.sh,
# trust_faults.sh, each sourcing it after faultlib.sh): a command run from
# a saved state, then broken at every step by the fault shim, killed at
# each step, its allocations failing; after each broken run the checks
# of one_run, into a tally of old and new states. The suite says what a
# state is and what tells one from another; the sweeps are the same.
#
# After sourcing it (it sets the defaults), before calling scenario or
# the sweeps (sweep, sweep_short, alloc_own, sweep_fail, step_sweep,
# alloc_sweep), the suite defines:
#   load NAME            puts state NAME back (the vault $V and its files)
#   view                 what a reader of the vault sees, into VIEW
#   fingerprint          the view and the files, into FP (the state)
#   BLAME_RE             what an allocation failing must not be called
#   VIEWED               what the view shows, for the messages ("a reader
#                        sees the old $VIEWED or the new")
#   PENDING_WHAT         what kmc status names as pending (may be empty)
#   STAGED_PROBE         a .NAME.kmc-new file no_staged_files must see
#   FAULTS_MSGS          a file to which each broken run's first message
#                        line is added, or empty
# and may set (defaults below) MSG_STRIDE, of kmc's own allocations past
# the open one in how many with its message checked (1: each), and
# EXIT_ALLOCS, how many of all allocations, the last, to leave out; and
# may redefine the hooks, which do nothing here:
#   remember_old         after load, before the old state's fingerprint:
#                        what the suite's checks need of the old state
#   remember_new         the same of the new, after its fingerprint
#   make_mix             turns the new state into a mix that is neither
#                        state, its description into MIXED; or leaves
#                        MIXED empty
#   scenario_more        the suite's checks at the end of scenario
#   reader_more          the suite's checks before repair, beside
#                        reader_old_or_new
#   more_staged          adds to left (under nullglob) the staged files
#                        the suite's commands may leave in folders below
#                        $V (those of $V and $T are looked for here)

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

MSG_STRIDE=1
EXIT_ALLOCS=0
PENDING_WHAT=
FAULTS_MSGS=
remember_old() { :; }
remember_new() { :; }
make_mix() { :; }
scenario_more() { :; }
reader_more() { :; }
more_staged() { :; }

TMPF=$T/tmp.out
slurp() { # slurp FILE: its text into REPLY, without a process
	REPLY=
	if [ -f "$1" ]; then IFS= read -r -d '' REPLY <"$1"; fi
	return 0
}

# ---- the checks -------------------------------------------------------------------
generation() { # into GEN; into STATUS, kmc status --json
	look status --json >"$TMPF" 2>&1
	slurp "$TMPF"
	STATUS=$REPLY
	GEN=
	[[ ! $REPLY =~ \"store_generation\":([0-9]+) ]] || GEN=${BASH_REMATCH[1]}
}
show_diff() { # LABEL WANTED: how FP differs from WANTED
	echo "$1" >&2
	diff <(printf '%s' "$2") <(printf '%s' "$FP") | head -20 >&2
}
is_new() { fingerprint; [ "$FP" = "$NEW_FP" ] || { show_diff "not the new state:" "$NEW_FP"; false; }; }
old_or_new() {
	fingerprint
	[ "$FP" = "$OLD_FP" ] || [ "$FP" = "$NEW_FP" ] || {
		show_diff "neither the old nor the new state; against the old:" "$OLD_FP"
		show_diff "against the new:" "$NEW_FP"
		false
	}
}
# Before any writable open: the reader's view old or new (the suite's
# reader_more checks the rest).
reader_old_or_new() {
	view
	[ "$VIEW" = "$OLD_VIEW" ] || [ "$VIEW" = "$NEW_VIEW" ] || {
		echo "a reader sees neither the old $VIEWED nor the new:" >&2
		diff <(printf '%s' "$OLD_VIEW") <(printf '%s' "$VIEW") | head -20 >&2
		false
	}
}
was_old() {
	[ "$FP" = "$OLD_FP" ] || {
		slurp "$RUN_ERR"
		echo "the message was: $REPLY" >&2
		show_diff "but after kmc repair, the new state:" "$OLD_FP"
		false
	}
}
healthy() { # kmc status: healthy, nothing pending; the new state a newer generation
	generation
	[[ $STATUS == *'"healthy":true,'* && $STATUS == *'"pending_change":false'* ]] ||
		{ echo "kmc status: $STATUS" >&2; return 1; }
	if [ "$FP" = "$NEW_FP" ] && ! { [ -n "$GEN" ] && [ "$GEN" -gt "$OLD_GEN" ]; }; then
		echo "the new state, yet store generation $GEN, not above $OLD_GEN" >&2
		return 1
	fi
}
no_staged_files() {
	local left
	shopt -s nullglob
	left=("$V"/.*.kmc-new "$V"/.*.tmp-*)
	more_staged
	left+=("$T"/.*.kmc-new "$T"/.*.tmp-*)
	shopt -u nullglob
	[ ${#left[@]} = 0 ] || { echo "left behind: ${left[*]}" >&2; false; }
}
# The same, but for the temporaries of kmc.bind and of the state file
# beside the host key: a kill while one is written leaves it, and it is no
# cut-off change of the files (the change was made whole or not at all;
# the next writable open removes it).
no_change_staged() {
	local left f
	no_staged_files 2>"$TMPF" && return 0
	left=$(sed 's/^left behind: //' "$TMPF")
	for f in $left; do
		case ${f##*/} in .kmc.bind.tmp-* | .kmcstate-*.tmp-*) ;; *) return 1 ;; esac
	done
}
repair() {
	kmc repair >"$TMPF" 2>&1 || { echo "kmc repair: exit $?: $(cat "$TMPF")" >&2; false; }
}
# The fault, and the file or folder it struck: a path of the test's
# own ($T) before it, not a bare "Input/output error".
names_fault() {
	slurp "$RUN_ERR"
	[[ $REPLY =~ $FAULT_MSG && $REPLY == "kmc: "* && $REPLY == *"$T/"*[a-z]*": "* ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
says_kmc() {
	slurp "$RUN_ERR"
	[[ $REPLY == "kmc: "* ]] && ! [[ $REPLY =~ $SAN_MSG ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
status_pending() {
	look status >"$TMPF" 2>&1 && { echo "kmc status: exit 0" >&2; return 1; }
	slurp "$TMPF"
	[[ $REPLY == *$'\npending '*"$PENDING_WHAT"*"kmc repair"* ]] || { echo "kmc status: $REPLY" >&2; false; }
}
# What an allocation failing must not be called (BLAME_RE, the suite's):
# something wrong with the input or the vault.
not_blamed() {
	slurp "$RUN_ERR"
	! [[ $REPLY =~ $BLAME_RE ]] || { echo "message was: $REPLY" >&2; false; }
}
says_nothing_changed() { slurp "$RUN_ERR"; [[ $REPLY == *"nothing was changed"* ]]; }
not_both_told() {
	slurp "$RUN_ERR"
	! [[ $REPLY == *"nothing was changed"* && $REPLY == *"kmc repair"* ]] ||
		{ echo "message was: $REPLY" >&2; false; }
}
says_repair_finishes() {
	slurp "$RUN_ERR"
	[[ $REPLY == *"kmc repair"* && $REPLY != *"nothing was changed"* ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
not() { ! "$@" 2>/dev/null; }
again_new() { # from the old state, the command run again gives the new
	look "${CMD[@]}" >"$TMPF" 2>&1 || { echo "run again: exit $?: $(cat "$TMPF")" >&2; return 1; }
	is_new
}

# faulty N KILL: CMD under the shim, step N failing (0: none; KILL=1:
# killed there instead); sets rc and steps. FAULT_OPS, FAULT_NEAR: the
# shim's KMC_FAULT_OPS and KMC_FAULT_NEAR.
FAULT_OPS=
FAULT_NEAR=0
faulty() {
	local asan=$RUN_ASAN_OPTIONS
	rm -f "$COUNT"
	[ -z "$FAULT_OPS" ] || [ "$FAULT_NEAR" != 0 ] || asan=$ALLOC_ASAN_OPTIONS
	# The group's stderr takes bash's "Killed" notice for a killed run.
	{ ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$1" KMC_FAULT_KILL="$2" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_NEAR="$FAULT_NEAR" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "${CMD[@]}" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	[ -z "$FAULTS_MSGS" ] || { head -1 "$RUN_ERR" >>"$FAULTS_MSGS"; }
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}

# scenario WHAT FROM ARGS...: CMD (ARGS) from state FROM without the shim
# gives the new state; OLD_* and NEW_* for the checks, which must tell a
# mix from either: make_mix (the suite's) makes one of the new state.
scenario() {
	WHAT=$1
	FROM=$2
	shift 2
	CMD=("$@")
	load "$FROM"
	remember_old
	fingerprint
	OLD_FP=$FP
	OLD_VIEW=$VIEW
	generation
	OLD_GEN=$GEN
	look "${CMD[@]}" >"$RUN_OUT" 2>"$RUN_ERR"
	rc=$?
	check "$WHAT without the shim succeeds" test "$rc" = 0
	fingerprint
	NEW_FP=$FP
	NEW_VIEW=$VIEW
	remember_new
	check "$WHAT changes what the user sees" test "$OLD_FP" != "$NEW_FP"
	check "$WHAT: the new state is healthy, its store generation above the old" healthy
	# The checks can tell a mix (one part of the change without the
	# other); and a staged file left.
	MIXED=
	make_mix
	if [ -n "$MIXED" ]; then
		check "$WHAT: a mix ($MIXED) is neither state" not old_or_new
		load "$FROM"
		look "${CMD[@]}" >"$TMPF" 2>&1
	fi
	: >"$STAGED_PROBE"
	check "$WHAT: a .NAME.kmc-new file left is seen" not no_staged_files
	rm -f "$STAGED_PROBE"
	scenario_more
}

# one_run: the checks after a broken run (MODE fail, kill or alloc; AT
# names it), into the tallies.
OLDS=0
NEWS=0
AGAIN_STRIDE=3
one_run() {
	case $MODE in
	kill) check "$AT: the shim killed it" killed ;;
	*)
		if [ "$rc" = 0 ]; then
			check "$AT, yet exit 0: the new state at once" is_new
		else
			check "$AT: exits non-zero without a crash" no_crash
			if [ "$MODE" = fail ]; then
				check "$AT: the message starts 'kmc: ' and names the fault and its file" names_fault
				check "$AT: no memory error report" says_kmc
			else
				check "$AT: a message starting 'kmc: ', no memory error report" says_kmc
			fi
			check "$AT: the message does not say both that nothing changed and kmc repair" \
				not_both_told
		fi
		;;
	esac
	# A failure cleans up after itself (one call fails, not its clean-up),
	# but for one that went through and leaves the rest to kmc repair.
	if [ "$MODE" != kill ]; then
		slurp "$RUN_ERR"
		[[ $REPLY == *"kmc repair"* ]] ||
			check "$AT: before repair, nothing staged or temporary left" no_staged_files
	fi
	# A cut-off change of the files (staged files left): kmc status
	# tells the user, naming what was cut off.
	if [ "$MODE" = kill ] && ! no_change_staged 2>/dev/null; then
		check "$AT: kmc status says a ${PENDING_WHAT:+$PENDING_WHAT }change is pending, and kmc repair" \
			status_pending
	fi
	check "$AT: before repair, a reader sees the old $VIEWED or the new" reader_old_or_new
	reader_more
	check "$AT: kmc repair succeeds" repair
	check "$AT: after repair, the old state or the new, never a mix" old_or_new
	check "$AT: healthy, nothing pending; the new state a newer generation" healthy
	check "$AT: nothing staged or temporary left" no_staged_files
	[ "$MODE" = kill ] || [ "$rc" = 0 ] || ! says_nothing_changed ||
		check "$AT: it said nothing was changed, and so it is" was_old
	if [ "$FP" = "$OLD_FP" ]; then
		OLDS=$((OLDS + 1))
		# Nothing left in the way: one in AGAIN_STRIDE of them.
		[ "$MODE" != fail ] || [ $((OLDS % AGAIN_STRIDE)) != 1 ] ||
			check "$AT: from the old state, run again, it succeeds" again_new
	elif [ "$FP" = "$NEW_FP" ]; then
		NEWS=$((NEWS + 1))
		[ "$MODE" = kill ] || [ "$rc" = 0 ] ||
			check "$AT, yet it went through: the message says so and names kmc repair" \
				says_repair_finishes
	fi
}
tally() { TALLY="the old state $OLDS times, the new $NEWS"; OLDS=0 NEWS=0; }

# step_sweep: in make check, one step in FAIL_STRIDE failing (the 1st,
# 4th, ...) and killed at one in KILL_STRIDE (the 2nd, 6th, ...), and at
# the last; not killed under make check-sanitize (faultlib.sh); make
# check-full, each failing and killed at each. A kill at step N leaves
# what the failure at step N leaves before its clean-up, which the
# failing run checks; the two passes together cover about half the
# steps in make check (CI stays under 20 minutes), all in check-full.
FAIL_STRIDE=3
KILL_STRIDE=4
if [ -n "${KMC_STEP_STRIDE:-}" ]; then	# make check-full: 1
	FAIL_STRIDE=$KMC_STEP_STRIDE
	KILL_STRIDE=$KMC_STEP_STRIDE
fi
step_sweep() {
	local n total mode kill t0=$SECONDS fail_stride=$FAIL_STRIDE
	[ "${1:-}" != nokill ] || [ -n "${KMC_STEP_STRIDE:-}" ] || fail_stride=3
	load "$FROM"
	faulty 0 0
	check "$WHAT under the shim without a fault succeeds" test "$rc" = 0
	check "$WHAT under the shim without a fault: the new state" is_new
	check "the shim counted the steps of $WHAT" test "$steps" -gt 4
	total=$steps
	for mode in fail $([ "${1:-}" = nokill ] && [ -z "${KMC_STEP_STRIDE:-}" ] || kill_mode); do
		for ((n = 1; n <= total; n++)); do
			[ "$mode" = fail ] || [ $(((n + KILL_STRIDE - 2) % KILL_STRIDE)) = 0 ] ||
				[ "$n" = "$total" ] || continue
			[ "$mode" = kill ] || [ "$fail_stride" = 1 ] || [ $((n % fail_stride)) = 1 ] ||
				[ "$n" = "$total" ] || continue
			MODE=$mode
			AT="$WHAT, step $n of $total failing"
			[ "$mode" = fail ] || AT="$WHAT, killed at step $n of $total"
			load "$FROM"
			kill=0
			[ "$mode" = fail ] || kill=1
			faulty "$n" "$kill"
			one_run
		done
		tally
		echo "# $WHAT, $([ "$mode" = fail ] && echo "failing at one step in $fail_stride" ||
			echo "killed at one step in $KILL_STRIDE"):" \
			"$total steps; then $TALLY"
	done
	kills_wanted || skip_kills "$WHAT"
	[ "${1:-}" != nokill ] || [ -n "${KMC_STEP_STRIDE:-}" ] ||
		echo "# skip: $WHAT killed at each step: make check-full runs it"
	echo "# $WHAT: the step sweep took $((SECONDS - t0)) s"
}

# open_allocs: into OPEN_ALLOCS, how many of its own allocations kmc
# makes opening the vault of state FROM for writing: those of `kmc cert
# set-trust` of a bundle there is not (an open, then a refusal) before
# its message.
open_allocs() {
	load "$FROM"
	LD_PRELOAD="$SO" KMC_FAULT_OPS=alloc KMC_FAULT_NEAR=$NEAR KMC_FAULT_TRACE=1 "$KMC" --vault "$V" \
		cert set-trust nosuch clients >/dev/null 2>"$TMPF" </dev/null
	OPEN_ALLOCS=$(awk '/kmc: /{ print n + 0; exit } /^faultinject: #/{ n++ }' "$TMPF")
	OPEN_ALLOCS=${OPEN_ALLOCS:-0}
}

# alloc_sweep NEAR STRIDE-OR-RUNS: allocations failing; NEAR 0: all of
# them, about ALLOC_RUNS of them spread evenly; else kmc's own (the
# shim's KMC_FAULT_NEAR), one in OWN_STRIDE. KMC_ALLOC_STRIDE=k: one in k.
ALLOC_RUNS=4
OWN_STRIDE=12
NEAR=4
alloc_sweep() {
	local near=$1 n total k label t0=$SECONDS fails=0
	OPEN_ALLOCS=
	label="$WHAT, $([ "$near" = 0 ] && echo allocation || echo 'own allocation')"
	load "$FROM"
	FAULT_OPS=alloc FAULT_NEAR=$near faulty 0 0
	check "${label}s counted: succeeds without a fault" test "$rc" = 0
	check "the shim counted the ${label}s" test "$steps" -gt 10
	total=$steps
	# The last EXIT_ALLOCS of all: OpenSSL's own at exit (the suite's
	# note says why they are left out).
	[ "$near" != 0 ] || total=$((steps - EXIT_ALLOCS))
	k=${KMC_ALLOC_STRIDE:-}
	if [ -z "$k" ]; then
		if [ "$near" = 0 ]; then
			k=$(((total + ALLOC_RUNS - 1) / ALLOC_RUNS))
		else
			k=$OWN_STRIDE
		fi
		[ -z "${KMC_SANITIZED:-}" ] || k=$((2 * k))
	fi
	POINTS=()
	for ((n = 1; n <= total; n += k)); do POINTS+=("$n"); done
	[ "${POINTS[-1]}" = "$total" ] || POINTS+=("$total")
	# kmc's own: one in MSG_STRIDE after those of opening the vault
	# (which every writing command makes: the other fault suites' too)
	# has its message checked, in make check too (cheap); the state after
	# it, of POINTS only.
	local -A full=()
	for n in "${POINTS[@]}"; do full[$n]=1; done
	if [ "$near" != 0 ]; then
		open_allocs
		for ((n = OPEN_ALLOCS + 1; n <= total; n += MSG_STRIDE)); do [ -n "${full[$n]:-}" ] || POINTS+=("$n"); done
	fi
	for n in "${POINTS[@]}"; do
		MODE=alloc
		AT="$label $n of $total failing"
		load "$FROM"
		FAULT_OPS=alloc FAULT_NEAR=$near faulty "$n" 0
		[ "$rc" = 0 ] || fails=$((fails + 1))
		if [ -n "${full[$n]:-}" ]; then
			one_run
		elif [ "$rc" != 0 ]; then
			check "$AT: exits non-zero without a crash" no_crash
			check "$AT: a message starting 'kmc: ', no memory error report" says_kmc
		fi
		[ "$rc" = 0 ] || check "$AT: the message blames neither the input nor the vault" not_blamed
	done
	# kmc's own allocations: some must fail the command (the shim is
	# active). Of all of them, nearly every one a sample hits is
	# OpenSSL's at its start, which it does without.
	[ "$near" = 0 ] || check "the shim is active: with some ${label} failing, $WHAT failed" test "$fails" -gt 0
	tally
	local past=
	local each=each
	[ "$MSG_STRIDE" = 1 ] || each="one in $MSG_STRIDE"
	[ -z "$OPEN_ALLOCS" ] || past=", the message after $each past the first $OPEN_ALLOCS (the open)"
	echo "# ${label}s: $total; ran ${#POINTS[@]}, the state checked after ${#full[@]}" \
		"(1 in $k, and the last)$past: failed $fails;" \
		"then $TALLY; $((SECONDS - t0)) s"
}

# sweep WHAT FROM ARGS...: the scenario, the steps, the allocations;
# sweep_short: the steps alone, for a second command of a suite whose
# code the others' allocation sweeps run.
sweep() {
	scenario "$@"
	step_sweep
	alloc_sweep "$NEAR"
	alloc_sweep 0
}
sweep_short() {
	scenario "$@"
	step_sweep
}
alloc_own() { # kmc's own allocations alone, for a command whose steps another sweep runs
	scenario "$@"
	alloc_sweep "$NEAR"
}
sweep_fail() { # one step in 3 failing; each, and killed at each, in make check-full
	scenario "$@"
	step_sweep nokill
}
