# ca_faults.sh - sourced by the test_ca_faults_*.sh suites: the commands
# that write a CA or what it issues (kmc ca init, cert issue, ca revoke,
# ca crl) broken at every step by the fault shim (tests/faultinject.c):
# each file-system step failing (ENOSPC or EIO), the process killed at
# each step (KMC_FAULT_KILL=1), then allocations failing
# (KMC_FAULT_OPS=alloc): kmc's own (KMC_FAULT_NEAR) and all of them,
# OpenSSL's included.
#
# The vault: CA root; bundles db (a server, with a config file app.conf
# that holds a line of its own) and app (a client) it issued.
#
# Keys, serials, signatures and times are new at every run, so what the
# user sees of a state (fingerprint) is taken with them blanked: kmc list
# (name, type, version), kmc ca list (serials and dates as S and D), the
# files of the keys folders (name and mode), app.conf (the kmc: string
# as X), and the CRL file (its number, and that the CA signed it). The
# record and the bundle are one transaction, so a state where the CA
# notes a serial without its bundle (or the other way) is neither. After
# every broken run:
#   - exit 0 only with the new state at once; a failure exits below 128,
#     its message starts "kmc: " and names the fault (allocations: no
#     memory error report), never both "nothing was changed" and "kmc
#     repair";
#   - before any writable open (what a server reading the vault sees):
#     the CA and its bundles are the old ones or the new;
#   - after kmc repair (the next writable open): the old state or the
#     new, never a mix; the old when the message said nothing was
#     changed, the new with a message naming kmc repair when a failure
#     went through after all; kmc status healthy, no change pending, no
#     .NAME.kmc-new nor .NAME.tmp-* left; the new state with a higher
#     store generation than the old; from the old state, the command run
#     again succeeds.
#
# make check samples (make check-full, KMC_STEP_STRIDE=1 and
# KMC_ALLOC_STRIDE=1, runs each): of the steps, one in FAIL_STRIDE (3)
# failing and one in KILL_STRIDE (4) killed; of kmc's own allocations,
# one in MSG_STRIDE (3) past those of opening the vault failing with its
# message checked, and the state after one in OWN_STRIDE (12); of all allocations, about
# ALLOC_RUNS (4). Under make check-sanitize, half as many allocation
# samples, and no kills.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
CONF=$T/app.conf
OUTCRL=$T/root.crl	# the file kmc ca crl writes
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

# ---- material ---------------------------------------------------------------------

t "kmc init" look init
t "ca init root" look ca init root --subject "/CN=Fault Root CA"
printf '# app.conf\nport = 5432\n' >"$CONF"
t "cert issue db --server --conf app.conf" look cert issue db --ca root --server \
	--subject /CN=db.example --conf "$CONF"
t "cert issue app --client" look cert issue app --ca root --client --subject /CN=app

# ---- states -----------------------------------------------------------------------
# A state: a copy of the vault and the files beside it; load puts it back.
save() { rm -rf "$T/saved.$1" && mkdir "$T/saved.$1" && cp -a "$V" "$CONF" "$T/saved.$1/"; }
load() {
	rm -rf "$V" "$CONF" "$OUTCRL" && cp -a "$T/saved.$1/vault" "$T/saved.$1/app.conf" "$T/"
}
save issued

# ---- what the user sees -----------------------------------------------------------
TMPF=$T/tmp.out
slurp() { # slurp FILE: its text into REPLY, without a process
	REPLY=
	if [ -f "$1" ]; then IFS= read -r -d '' REPLY <"$1"; fi
	return 0
}
blank() { sed -E 's/[0-9A-F]{40}/S/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/D/g; s/kmc:v1:[^ ]*/X/g'; }
# view: what a reader of the vault sees, into VIEW.
view() {
	{
		echo "== list"
		look list 2>&1 | awk '{ print $1, $2, $3 }'
		echo "== ca list (serials are random: in no order)"
		look ca list 2>&1 | blank | sort
	} >"$TMPF"
	slurp "$TMPF"
	VIEW=$REPLY
}
# fingerprint: the view, and the files, blanked, into FP.
fingerprint() {
	view
	{
		echo "== keys"
		[ ! -d "$V/keys" ] || (cd "$V/keys" && find . -printf '%p %m\n' | sort)
		echo "== app.conf $(stat -c %a "$CONF" 2>&1)"
		blank <"$CONF"
		echo "== root.crl"
		if [ -e "$OUTCRL" ]; then
			stat -c %a "$OUTCRL"
			openssl crl -in "$OUTCRL" -noout -crlnumber 2>&1
			openssl crl -in "$OUTCRL" -noout -CAfile "$V/keys/db/ca.crt" 2>&1
		fi
	} >"$TMPF" 2>&1
	slurp "$TMPF"
	FP=$VIEW$'\n'$REPLY
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
		echo "a reader sees neither the old state nor the new:" >&2
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
	left=("$V"/.*.kmc-new "$V"/.*.tmp-* "$V"/keys/.*.kmc-new "$V"/keys/*/.*.kmc-new
		"$T"/.*.kmc-new "$T"/.*.tmp-*)
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
	[[ $REPLY == *$'\npending '*"kmc repair"* ]] || { echo "kmc status: $REPLY" >&2; false; }
}
# What an allocation failing must not be called: something wrong with
# the input or the vault.
BLAME_RE='would be over|damaged|not a (CA )?certificate|holds [0-9]+ certificates|already (holds|revoked)|holds no|issued no|not valid yet|has expired|exists|--subject|--san|--days|--type'
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
	[ -z "${CA_FAULTS_MSGS:-}" ] || { head -1 "$RUN_ERR" >>"$CA_FAULTS_MSGS"; }
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}

# scenario WHAT FROM ARGS...: CMD (ARGS) from state FROM without the shim
# gives the new state; OLD_* and NEW_* for the checks, which must tell a
# mix from either: MIX (a command) makes one of the new state.
MIX=
scenario() {
	WHAT=$1
	FROM=$2
	shift 2
	CMD=("$@")
	load "$FROM"
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
	check "$WHAT changes what the user sees" test "$OLD_FP" != "$NEW_FP"
	check "$WHAT: the new state is healthy, its store generation above the old" healthy
	# The checks can tell a mix (the vault's change without the files',
	# or the other way); and a staged file left.
	if [ -n "$MIX" ]; then
		eval "$MIX"
		check "$WHAT: a mix ($MIX) is neither state" not old_or_new
		load "$FROM"
		look "${CMD[@]}" >"$TMPF" 2>&1
	fi
	: >"$T/.app.conf.kmc-new"
	check "$WHAT: a .NAME.kmc-new file left is seen" not no_staged_files
	rm -f "$T/.app.conf.kmc-new"
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
	# A cut-off change of the files (staged files left): kmc status
	# tells the user, naming what was cut off.
	if [ "$MODE" = kill ] && ! no_staged_files 2>/dev/null; then
		check "$AT: kmc status says a change is pending, and kmc repair" status_pending
	fi
	check "$AT: before repair, a reader sees the old CAs and bundles or the new" reader_old_or_new
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
# Of kmc's own allocations past the open, the message of one in
# MSG_STRIDE is checked in make check (cert issue makes some 160: each
# would take a minute of CPU), each in make check-full.
MSG_STRIDE=${KMC_ALLOC_STRIDE:-3}
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
	[ -z "$OPEN_ALLOCS" ] || past=", the message after one in $MSG_STRIDE past the first $OPEN_ALLOCS (the open)"
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
