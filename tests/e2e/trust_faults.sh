# trust_faults.sh - sourced by the test_trust_faults_*.sh suites: the
# commands that change a trust store or which store a bundle trusts
# (kmc trust add, rm, sync and crl, cert set-trust) broken at every
# step by the fault shim (tests/faultinject.c): each file-system step
# failing (ENOSPC or EIO), the process killed at each step
# (KMC_FAULT_KILL=1), then allocations failing (KMC_FAULT_OPS=alloc):
# kmc's own (KMC_FAULT_NEAR) and all of them, OpenSSL's included.
#
# The vault: a bundle "server" imported; trust store "clients" trusting
# the first CA as ca1 and kept in sync in two files, ca-one.pem (0640,
# another group where the user has one) and ca-two.pem (0644); a third
# file, ca-three.pem (0600), which only trust sync names.
#
# What the user sees of a state (fingerprint): kmc trust list (aliases,
# subjects, the files each store keeps), the store server trusts and its
# aliases (kmc cert info --json), and each sync file's mode, owner,
# group and bytes. After every broken run:
#   - exit 0 only with the new state at once; a failure exits below 128,
#     its message starts "kmc: " and names the fault (allocations: no
#     memory error report), never both "nothing was changed" and "kmc
#     repair";
#   - before any writable open (what a server reading the vault sees):
#     the store and the bundle's trust are the old ones or the new, and
#     each sync file wholly its old bytes or its new, mode kept;
#   - after kmc repair (the next writable open): the old state or the
#     new, never a mix (the record one way, a file the other); the old
#     when the message said nothing was changed, the new with a message
#     naming kmc repair when a failure went through after all; kmc
#     status healthy, no change pending, no .NAME.kmc-new nor
#     .NAME.tmp-* left; the new state with a higher store generation
#     than the old (servers polling it reload); from the old state, the
#     command run again succeeds.
#
# make check samples (make check-full, KMC_STEP_STRIDE=1 and
# KMC_ALLOC_STRIDE=1, runs each):
# of the steps (some 6 to 32 a run), one in FAIL_STRIDE (3) failing and
# one in KILL_STRIDE (4) killed; of kmc's own allocations (some 50 to
# 80), each past those of opening the vault failing with its message
# checked, and the state after one in OWN_STRIDE (12); of all
# allocations (some 7,500, nearly all OpenSSL's at its start, which it
# does without), about ALLOC_RUNS (4). Under make check-sanitize, half
# as many allocation samples, and no kills.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
F1=$T/ca-one.pem
F2=$T/ca-two.pem
F3=$T/ca-three.pem
F4=$T/ca-four.pem	# no such file, until trust sync makes it
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

# ---- material ---------------------------------------------------------------------

P1=$T/pki1
P2=$T/pki2
check "mkpki.sh makes the first PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P1"
check "mkpki.sh makes a second PKI, another CA" \
	env MKPKI_CA_CN="second CA" bash "$KMC_TOP/tools/mkpki.sh" "$P2"

t "kmc init" look init
t "import the bundle server" look import -c "$P1/ca.crt" -s "$P1/server.crt" \
	-k "$P1/server.plain.key" -r "$P1/ca.crl"
printf '# ca-one, before kmc keeps it\n' >"$F1"
printf '# ca-two, before kmc keeps it\n' >"$F2"
printf '# ca-three, its own\n' >"$F3"
chmod 640 "$F1"
chmod 644 "$F2"
chmod 600 "$F3"
# Another group on ca-one.pem than the user's own, where there is one:
# each rewrite must keep it.
other_group=$(id -G | tr ' ' '\n' | grep -vx "$(id -g)" | head -1)
[ "$(id -u)" != 0 ] || other_group=1
[ -z "$other_group" ] || chgrp "$other_group" "$F1" 2>/dev/null || other_group=
t "trust add ca1 --store clients" look trust add ca1 "$P1/ca.crt" --store clients
t "trust sync clients --file ca-one.pem" look trust sync clients --file "$F1"
t "trust sync clients --file ca-two.pem" look trust sync clients --file "$F2"
check "ca-one.pem keeps its mode and group" \
	test "$(stat -c '%a %g' "$F1")" = "640 ${other_group:-$(id -g)}"

# ---- states -----------------------------------------------------------------------
# A state: a copy of the vault and the three files; load puts it back,
# byte for byte, with modes, owner and group.
FILES=("$F1" "$F2" "$F3" "$F4")
save() { rm -rf "$T/saved.$1" && mkdir "$T/saved.$1" && cp -a "$V" "$T"/ca-*.pem "$T/saved.$1/"; }
load() {
	rm -rf "$V" "${FILES[@]}" && cp -a "$T/saved.$1/vault" "$T/saved.$1/"ca-*.pem "$T/"
}
save one
t "trust add ca2 (for the states below)" look trust add ca2 "$P2/ca.crt" --store clients
save two
t "cert set-trust server clients (for the states below)" look cert set-trust server clients
save bound

# ---- what the user sees -----------------------------------------------------------
TMPF=$T/tmp.out
slurp() { # slurp FILE: its text into REPLY, without a process
	REPLY=
	if [ -f "$1" ]; then IFS= read -r -d '' REPLY <"$1"; fi
	return 0
}
# view: what a reader of the vault sees, into VIEW: the stores (kmc
# trust list), or for cert set-trust (VIEW_BUNDLE=1) the store server
# trusts with its aliases (kmc cert info).
VIEW_BUNDLE=0
view() {
	if [ "$VIEW_BUNDLE" = 1 ]; then
		look cert info server --json >"$TMPF" 2>&1
		slurp "$TMPF"
		if [[ $REPLY =~ \"trustStore\":[^]]*\] ]]; then
			VIEW="== server: ${BASH_REMATCH[0]}"
		else
			VIEW="== cert info server: $REPLY"
		fi
	else
		look trust list >"$TMPF" 2>&1
		slurp "$TMPF"
		VIEW="== trust list"$'\n'$REPLY
	fi
}
# fingerprint: the view, and each file's mode, owner, group and bytes, into FP.
# (Files whose bytes are all the old ones have the old mode, owner and
# group: only a rename changes them, and it brings new bytes.)
fingerprint() {
	local f same=1 bytes=
	view
	for f in "${FILES[@]}"; do
		slurp "$f"
		[ -n "${OLD_FILE[$f]+set}" ] && [ "$REPLY" = "${OLD_FILE[$f]}" ] || same=0
		bytes+="-- $f"$'\n'$REPLY
	done
	if [ "$same" = 1 ]; then
		FP=$VIEW$'\n'"== files"$'\n'$OLD_STAT$bytes
	else
		stat -c '%n %a %u %g' "${FILES[@]}" >"$TMPF" 2>&1
		slurp "$TMPF"
		FP=$VIEW$'\n'"== files"$'\n'$REPLY$bytes
	fi
}
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
# Before any writable open: the reader's view old or new, and each file
# wholly its old bytes and mode or its new.
reader_old_or_new() {
	view
	[ "$VIEW" = "$OLD_VIEW" ] || [ "$VIEW" = "$NEW_VIEW" ] || {
		echo "a reader sees neither the old stores nor the new:" >&2
		diff <(printf '%s' "$OLD_VIEW") <(printf '%s' "$VIEW") | head -20 >&2
		false
	}
}
# (Its mode, owner and group: after repair; a rename changes them with
# the bytes.)
file_old_or_new() { # FILE
	slurp "$1"
	[ "$REPLY" = "${OLD_FILE[$1]}" ] || [ "$REPLY" = "${NEW_FILE[$1]}" ] ||
		{ echo "$1 is neither old nor new: $REPLY" >&2; false; }
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
	left=("$V"/.*.kmc-new "$V"/.*.tmp-* "$T"/.*.kmc-new "$T"/.*.tmp-*)
	shopt -u nullglob
	[ ${#left[@]} = 0 ] || { echo "left behind: ${left[*]}" >&2; false; }
}
repair() {
	kmc repair >"$TMPF" 2>&1 || { echo "kmc repair: exit $?: $(cat "$TMPF")" >&2; false; }
}
names_fault() {
	slurp "$RUN_ERR"
	[[ $REPLY =~ $FAULT_MSG && $REPLY == "kmc: "* ]] ||
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
	[[ $REPLY == *$'\npending '*"trust store"*"kmc repair"* ]] || { echo "kmc status: $REPLY" >&2; false; }
}
# What an allocation failing must not be called: something wrong with
# the input or the vault.
BLAME_RE='would be over|damaged|not a (CA )?certificate|holds [0-9]+ certificates|already (has|keeps|trusted)|has no alias|holds no|not valid yet|has expired'
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
	[ -z "${TRUST_FAULTS_MSGS:-}" ] || { head -1 "$RUN_ERR" >>"$TRUST_FAULTS_MSGS"; }
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}

# scenario WHAT FROM ARGS...: CMD (ARGS) from state FROM without the shim
# gives the new state; OLD_* and NEW_* for the checks, which must tell a
# mix from either.
declare -A OLD_FILE NEW_FILE
scenario() {
	local f
	WHAT=$1
	FROM=$2
	shift 2
	CMD=("$@")
	load "$FROM"
	OLD_FILE=()
	stat -c '%n %a %u %g' "${FILES[@]}" >"$TMPF" 2>&1
	slurp "$TMPF"
	OLD_STAT=$REPLY
	fingerprint
	OLD_FP=$FP
	OLD_VIEW=$VIEW
	generation
	OLD_GEN=$GEN
	for f in "${FILES[@]}"; do slurp "$f"; OLD_FILE[$f]=$REPLY; done
	look "${CMD[@]}" >"$RUN_OUT" 2>"$RUN_ERR"
	rc=$?
	check "$WHAT without the shim succeeds" test "$rc" = 0
	fingerprint
	NEW_FP=$FP
	NEW_VIEW=$VIEW
	for f in "${FILES[@]}"; do slurp "$f"; NEW_FILE[$f]=$REPLY; done
	check "$WHAT changes what the user sees" test "$OLD_FP" != "$NEW_FP"
	check "$WHAT: the new state is healthy, its store generation above the old" healthy
	# The checks can tell a mix: the new store with an old file; and a
	# staged file left.
	local mixed=
	for f in "${FILES[@]}"; do
		[ "${OLD_FILE[$f]}" != "${NEW_FILE[$f]}" ] || continue
		rm -f "$f"
		[ ! -e "$T/saved.$FROM/${f##*/}" ] || cp -a "$T/saved.$FROM/${f##*/}" "$f"
		mixed=1
		break
	done
	if [ -n "$mixed" ]; then
		check "$WHAT: a mix (the new store, an old file) is neither state" not old_or_new
		load "$FROM"
		look "${CMD[@]}" >"$TMPF" 2>&1
	fi
	: >"$T/.ca-one.pem.kmc-new"
	check "$WHAT: a .NAME.kmc-new file left is seen" not no_staged_files
	rm -f "$T/.ca-one.pem.kmc-new"
	check "$WHAT: the files keep mode, owner and group; a new one is 0644" kept_modes
}

kept_modes() {
	local f want got
	for f in "${FILES[@]}"; do
		want=644
		[ ! -e "$T/saved.$FROM/${f##*/}" ] || want=$(stat -c '%a %u %g' "$T/saved.$FROM/${f##*/}")
		[ -e "$f" ] || [ -e "$T/saved.$FROM/${f##*/}" ] || continue
		got=$(stat -c '%a %u %g' "$f")
		[ "$want" = 644 ] && got=${got%% *}
		[ "$got" = "$want" ] || { echo "$f: $got, not $want" >&2; return 1; }
	done
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
				check "$AT: the message starts 'kmc: ' and names the fault" names_fault
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
	# A cut-off change of the sync files (staged files left): kmc status
	# tells the user, naming what was cut off.
	if [ "$MODE" = kill ] && ! no_staged_files 2>/dev/null; then
		check "$AT: kmc status says a trust store change is pending, and kmc repair" status_pending
	fi
	check "$AT: before repair, a reader sees the old stores or the new" reader_old_or_new
	local f
	for f in "${FILES[@]}"; do
		check "$AT: before repair, ${f##*/} is wholly old or wholly new" file_old_or_new "$f"
	done
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
	# kmc's own: each after those of opening the vault (which every
	# writing command makes: the other fault suites' too) has its message
	# checked, in make check too (cheap); the state after it, of POINTS
	# only.
	local -A full=()
	for n in "${POINTS[@]}"; do full[$n]=1; done
	if [ "$near" != 0 ]; then
		open_allocs
		for ((n = OPEN_ALLOCS + 1; n <= total; n++)); do [ -n "${full[$n]:-}" ] || POINTS+=("$n"); done
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
	[ -z "$OPEN_ALLOCS" ] || past=", the message after each past the first $OPEN_ALLOCS (the open)"
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
