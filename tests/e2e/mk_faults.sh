# mk_faults.sh - sourced by the test_mk_faults_*.sh suites: the three
# commands of master-key rotation that write (kmc mk rotate, kmc mk
# rewrap, kmc mk retire) broken at every step by the fault shim
# (tests/faultinject.c): first each file-system step failing in turn
# (ENOSPC or EIO), then the process killed at each step
# (KMC_FAULT_KILL=1), then each allocation failing in turn
# (KMC_FAULT_OPS=alloc: malloc, calloc, realloc, sodium_malloc).
#
# The vault: the host protector; passwords db and web; a bundle imported
# with --conf app.conf and imported again with --replace (a new key and
# certificate), so that its five items each keep an old version;
# app.conf (the bundle's: the vault knows it) holds a kmc: string of
# `kmc encrypt` besides the import's server_key_mm, other.conf (which
# only --conf names) two more. 12 records and 4 strings in all.
#
# What a user relies on, checked after every broken run (one_run):
#   - a failed run exits below 128, its message starts "kmc: " and names
#     the fault (FAULT_MSG; under allocation faults, "kmc: " and no
#     memory error report), blames no string of the config files, and
#     leaves no .NAME.tmp-* in the vault nor .NAME.kmc-new / .NAME.tmp-*
#     beside the config files;
#   - a run that wrote nothing (every file's modification time as it
#     was: the bytes the checks at the start saw) failed, and its
#     message says so (the suite's as_told);
#   - otherwise, for rotate and retire, before kmc repair: every record
#     (old versions too) and every string opens with its own value, as
#     a server reading the vault sees them (mk_state, built from
#     tests/e2e/mk_state.c), and the set of master keys is the old one or
#     the new one, the old one if the message said nothing was changed;
#     then kmc repair succeeds. A rewrap, which leaves the keystores
#     alone, gets no repair;
#   - then: both keystores ok and the same bytes (kmc status --json),
#     every record and string opens with its own value, the config files
#     keep mode, owner and group, and each is wholly the old one (its
#     bytes) or wholly the new one (every string sealed by the active
#     key, every other byte as it was); the set of master keys (kmc mk
#     list --json) is the old one or the new one, and the one the message
#     said: exit 0 or "the change is in kmc.ks" the new, any other
#     failure the old; a rewrap's "sealed again" counts are what it
#     sealed.
# Per command (the suites): rotate from a vault with master key 1; rewrap
# from one just rotated (key 2 active), after which `kmc mk rewrap` run
# again must finish (nothing left on key 1) and `kmc mk retire 1` must
# succeed; retire 1 from one rotated and rewrapped: key 1 present or
# gone, never a vault that does not open, and a retire left undone done
# by running it again.
#
# Allocations (some 50 to 170 a run, some 40 of them opening the vault):
# make check tries one in 4 of the open's, and each of the command's own
# (rewrap: one in 3), make check-sanitize half as many (alloc_points);
# make check-full (KMC_ALLOC_STRIDE=1) each.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault		# every run works on a vault at this path,
CONF=$T/app.conf	# the config file the bundle's import updated,
CONF2=$T/other.conf	# and one only --conf names
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
look() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }
# plain: the fault-free runs that make the starting states, or finish
# what a broken run left (a rewrap run again, a retire): like the
# inspections, the release build's under make check-sanitize (KMC_LOOK),
# where ASan's time goes to the broken runs and to kmc repair.
plain() { "$KMC_LOOK" --vault "$V" "$@" </dev/null; }

if [ ! -f "$SO" ]; then
	done_testing
	exit
fi

# ---- material ---------------------------------------------------------------------

# mk_state: built against the library of the kmc that inspects (the
# release build's under make check-sanitize: KMC_LOOK_BUILD).
MK_STATE=$T/mk_state
KMC_BUILD=$(dirname "$KMC_LOOK") check "the mk_state helper builds" \
	kmc_cc "$MK_STATE" "$KMC_TOP/tests/e2e/mk_state.c" -I"$KMC_TOP"

P=$T/pki
KP='server-key-password'
KP2='the replacement key password'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KP"
PW=$T/pw
secret_file "$PW" "$KP"
PW2=$T/pw2
secret_file "$PW2" "$KP2"
R=$T/repl	# the replacement key (encrypted) and its certificate
check "made the replacement key and certificate" bash "$P/issue.sh" "$R" P-256 "$KP2"
secret_file "$T/db.pw" 'db password'
secret_file "$T/web.pw" 'web password'

t "kmc init: a vault with the host protector" plain init
t "password set db" plain password set db --password-file "$T/db.pw"
t "password set web" plain password set web --password-file "$T/web.pw"
S1=$(plain encrypt 'the mail relay secret' 2>/dev/null)
S2=$(plain encrypt 'the ldap bind secret' 2>/dev/null)
S3=$(plain encrypt 'the api token' 2>/dev/null)
check "kmc encrypt made three strings" test -n "$S1" -a -n "$S2" -a -n "$S3"
cat >"$CONF" <<CONF
# app settings
port = 8443
mail_secret = $S1
	tls = on
CONF
printf '[ldap]\nbind = %s  # kept\n\n[api]\ntoken=%s\nend\n' "$S2" "$S3" >"$CONF2"
chmod 640 "$CONF"
chmod 600 "$CONF2"
# Another group on app.conf than the file's own, where there is one: the
# rewritten file must keep it.
other_group=$(id -G | tr ' ' '\n' | grep -vx "$(id -g)" | head -1)
[ "$(id -u)" != 0 ] || other_group=1
[ -z "$other_group" ] || chgrp "$other_group" "$CONF" 2>/dev/null || other_group=
t "import the bundle with --conf app.conf" plain import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" --conf "$CONF" --password-file "$PW"
t "import --replace: a new key and certificate, the old versions kept" \
	plain import --replace -c "$P/ca.crt" -s "$R.crt" -k "$R.key" --conf "$CONF" --password-file "$PW2"
check "app.conf holds two kmc: strings (one of kmc encrypt, one of the import)" \
	test "$(grep -c 'kmc:v1:1:' "$CONF")" = 2

# ---- states -----------------------------------------------------------------------
# A state is a copy of the vault and both config files; load puts it back
# at $V, $CONF and $CONF2, byte for byte, with modes, owner and group.
# The state file beside the host key goes with each state (lib.sh's
# state_save): it only moves forward.
save() {
	rm -rf "$T/saved.$1" && mkdir "$T/saved.$1" && cp -a "$V" "$CONF" "$CONF2" "$T/saved.$1/" &&
		state_save "$V" "$T/saved.$1.state"
}
load() {
	rm -rf "$V" "$CONF" "$CONF2" && cp -a "$T/saved.$1/vault" "$T/saved.$1/app.conf" \
		"$T/saved.$1/other.conf" "$T/" && state_load "$V" "$T/saved.$1.state"
}
save one
t "kmc mk rotate (for the states below)" plain mk rotate
save rotated
t "kmc mk rewrap --conf other.conf (for the states below)" plain mk rewrap --conf "$CONF2"
save rewrapped

STATE=$T/state
slurp() { # slurp FILE: its text into REPLY, without a process
	REPLY=
	if [ -f "$1" ]; then IFS= read -r -d '' REPLY <"$1"; fi
	return 0
}
# inspect: mk_state on the vault and both config files into STATE (rc
# into state_rc): the values it shows into VALUES_NOW, which master key
# seals each into MKS_NOW.
inspect() {
	"$MK_STATE" "$V" "$CONF" "$CONF2" >"$STATE" 2>&1
	state_rc=$?
	slurp "$STATE"
	VALUES_NOW=${REPLY%%$'\n--\n'*}
	MKS_NOW=
	[[ $REPLY != *$'\n--\n'* ]] || MKS_NOW=${REPLY#*$'\n--\n'}
}
# mk_set: kmc mk list --json without the times ("created"), into MKSET.
# (Bash, not jq: this runs after every run.)
mk_set() {
	look mk list --json >"$T/mk.json" 2>&1
	local mrc=$?
	slurp "$T/mk.json"
	MKSET=${REPLY//\"created\":\"????-??-??T??:??:??Z\",/}
	MKSET=${MKSET%$'\n'}
	[ "$mrc" = 0 ] || MKSET="(kmc mk list: exit $mrc: $MKSET)"
}

load one
inspect
VALUES=$VALUES_NOW
check "mk_state shows 12 records and 4 strings, all opening" \
	test "$state_rc" = 0 -a "$(grep -c '^item .*sha256=' "$STATE")" = 7 \
	-a "$(grep -c '^old .*sha256=' "$STATE")" = 5 -a "$(grep -c '^string .*sha256=' "$STATE")" = 4
check "an old version holds another value than the current one" \
	test "$(grep '^item server/key ' "$STATE" | sed 's/.*sha256=//')" != \
	"$(grep '^old server/key ' "$STATE" | sed 's/.*sha256=//')"
for s in one rotated rewrapped; do
	load "$s"
	inspect
	check "state $s: every record and string opens with the same values" \
		test "$state_rc" = 0 -a "$VALUES_NOW" = "$VALUES"
	mk_set
	eval "MK_$s=\$MKSET"
done
check "state rotated: key 2 active, key 1 seals everything" test "$MK_rotated" = \
	'[{"id":1,"active":false,"items":7,"old_versions":5},{"id":2,"active":true,"items":0,"old_versions":0}]'
check "state rewrapped: key 2 seals everything" test "$MK_rewrapped" = \
	'[{"id":1,"active":false,"items":0,"old_versions":0},{"id":2,"active":true,"items":7,"old_versions":5}]'
check "app.conf's mode, owner and group are shown" grep -Eq "^meta $CONF mode=640 uid=[0-9]+ gid=${other_group:-[0-9]+}\$" "$STATE"
check "rewrap sealed every string of both files again under key 2" \
	test "$(grep -c '^string .* mk=2$' "$STATE")" = 4

# ---- checks -----------------------------------------------------------------------
# Diagnostics go to stderr, which check prints on failure.

opens_all() { # after inspect: every record and string opens, with its value
	[ "$state_rc" = 0 ] && [ "$VALUES_NOW" = "$VALUES" ] || {
		echo "mk_state exit $state_rc; against the values of the start:" >&2
		diff <(printf '%s' "$VALUES") <(printf '%s' "$VALUES_NOW") | head -20 >&2
		false
	}
}
names_fault() { # the first line starts "kmc: ", and the fault is named
	slurp "$RUN_ERR"
	[[ $REPLY == "kmc: "* && $REPLY =~ $FAULT_MSG ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
says_kmc() { # a "kmc: " first line, and no memory error report
	slurp "$RUN_ERR"
	[[ $REPLY == "kmc: "* ]] && ! [[ $REPLY =~ $SAN_MSG ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
OOM_MSG='out of memory|Cannot allocate memory'
no_staged_files() { # nothing staged or temporary left in the vault or beside the files
	local left
	shopt -s nullglob
	left=("$V"/.*.tmp-* "$V"/.*.kmc-new "$T"/.*.kmc-new "$T"/.*.tmp-*)
	shopt -u nullglob
	[ ${#left[@]} = 0 ] || { echo "left behind: ${left[*]}" >&2; false; }
}
repaired() {
	kmc repair >"$T/repair.out" 2>&1 || { echo "kmc repair: exit $?: $(cat "$T/repair.out")" >&2; false; }
}
healthy() { # after inspect: both keystores ok and the same bytes; status exits 0
	look status --json >"$T/st.json" 2>"$T/st.err" && slurp "$T/st.json" &&
		[[ $REPLY == *'"healthy":true,'* && $REPLY == *'"pending_change":false'* &&
			$REPLY == *'"keystores":{"kmc.ks":{"state":"ok",'*'"StandbyKsf.ks":{"state":"ok",'* &&
			$MKS_NOW == "keystores: the same bytes"$'\n'* ]] ||
		{ cat "$T/st.json" "$T/st.err" >&2; echo "${MKS_NOW%%$'\n'*}" >&2; false; }
}
# file_is F FROM: after inspect, into IS: config file F ($CONF or
# $CONF2) holds the bytes it had in state FROM ("old"), or every string
# in it is the active key's (2), the rest of it as it was, which opens_all
# shows ("new"); else "mixed".
file_is() {
	local f=$1 from=$2 line
	IS=old
	same_text "$f" "$T/saved.$from/${f##*/}" && return
	IS=new
	while IFS= read -r line; do
		case $line in
		"string $f:"*) [[ $line == *" mk=2" ]] || IS=mixed ;;
		esac
	done <<<"$MKS_NOW"
}
same_text() { # A B: text files A and B hold the same bytes (no process)
	local a
	slurp "$1"
	a=$REPLY
	slurp "$2"
	[ "$a" = "$REPLY" ]
}
conf_unchanged() { # FROM: both config files hold their bytes of state FROM
	same_text "$CONF" "$T/saved.$1/app.conf" && same_text "$CONF2" "$T/saved.$1/other.conf" ||
		{ diff "$T/saved.$1/app.conf" "$CONF" >&2; diff "$T/saved.$1/other.conf" "$CONF2" >&2; false; }
}
conf_whole() { # FROM: each config file wholly old or wholly new
	local f ok=0
	for f in "$CONF" "$CONF2"; do
		file_is "$f" "$1"
		[ "$IS" != mixed ] || { echo "$f is neither old nor new:" >&2; cat "$f" >&2; ok=1; }
	done
	return $ok
}
not() { ! "$@" 2>/dev/null; }
run_ok() { # CMD...: exits 0 (its output shown when not)
	"$@" >"$T/run_ok.out" 2>&1 || { echo "exit $?: $*: $(cat "$T/run_ok.out")" >&2; false; }
}
set_is() { # set_is WANT [LABEL]: the master-key set (mk_set) is WANT
	[ "$MKSET" = "$1" ] || { echo "master keys: $MKSET; wanted ${2:-}$1" >&2; false; }
}
set_old_or_new() { # OLD NEW
	[ "$MKSET" = "$1" ] || [ "$MKSET" = "$2" ] ||
		{ echo "master keys: $MKSET; neither $1 nor $2" >&2; false; }
}
# For rotate and retire: what the message said, against the set. Exit 0,
# or "the change is in kmc.ks": the new set; otherwise the old one (a
# failure that says neither did not happen either).
set_as_told() { # OLD NEW
	slurp "$RUN_ERR"
	if [ "$rc" = 0 ] || [[ $REPLY == *"the change is in kmc.ks"* ]]; then
		set_is "$2" "(told: $REPLY) "
	else
		set_is "$1" "(told: $REPLY) "
	fi
}
# set_before_repair OLD NEW: a keystore change cut off or failed: before
# kmc repair, a reader sees the old set or the new; one whose failure
# said nothing changed ("nothing was changed", the CLI's; "nothing
# changed", the library's detail), the old.
NOTHING_RE='nothing (was )?changed'
set_before_repair() {
	mk_set
	check "$AT: before repair, the master keys are the old set or the new" \
		set_old_or_new "$1" "$2"
	if [ "$MODE" != kill ] && [ "$rc" != 0 ]; then
		slurp "$RUN_ERR"
		[[ ! $REPLY =~ $NOTHING_RE ]] ||
			check "$AT: it said nothing was changed: the old set, before repair" set_is "$1"
	fi
}
# Every kmc: string in the config files is this vault's and well formed:
# a message that calls one malformed, or leaves one alone, misleads.
no_string_blamed() {
	slurp "$RUN_ERR"
	[[ $REPLY != *"not a ciphertext string"* && $REPLY != *"not a well-formed"* &&
		$REPLY != *"left alone"* ]] || { echo "exit $rc; message was: $REPLY" >&2; false; }
}
not_both_told() { # a message never says both that nothing changed and the opposite
	slurp "$RUN_ERR"
	! [[ $REPLY =~ $NOTHING_RE && $REPLY == *"the change is in kmc.ks"* ]] ||
		{ echo "message was: $REPLY" >&2; false; }
}

# faulty N KILL ARGS...: kmc ARGS on $V under the shim, step N failing
# (0: none; KILL=1: killed there instead); sets rc and steps. FAULT_OPS
# narrows the counted calls (alloc: the allocations).
FAULT_OPS=
faulty() {
	local n=$1 kill=$2 asan=$RUN_ASAN_OPTIONS
	shift 2
	rm -f "$COUNT"
	[ -z "$FAULT_OPS" ] || asan=$ALLOC_ASAN_OPTIONS
	# The group's stderr takes bash's "Killed" notice for a killed run.
	{ ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}

# open_allocs FROM: into OPEN_ALLOCS, how many allocations kmc makes
# opening the vault of state FROM for writing, the same for every writing
# command: those `kmc mk retire 99` (an open, then a refusal) makes
# before its message.
open_allocs() {
	load "$1"
	LD_PRELOAD="$SO" KMC_FAULT_OPS=alloc KMC_FAULT_TRACE=1 "$KMC" --vault "$V" mk retire 99 \
		>/dev/null 2>"$T/open.trace" </dev/null
	OPEN_ALLOCS=$(awk '/kmc: /{ print n + 0; exit } /^faultinject: #/{ n++ }' "$T/open.trace")
	OPEN_ALLOCS=${OPEN_ALLOCS:-0}
}
# alloc_points TOTAL: the N of an allocation pass, into POINTS. In make
# check, one in ALLOC_OPEN_STRIDE of the first OPEN_ALLOCS (opening the
# vault: every fault suite's writing commands go through them), then one
# in ALLOC_STRIDE (a suite's, 1 unless it says) of the command's own; the
# first and the last always. Under make check-sanitize (KMC_SANITIZED),
# where each broken run takes some 0.2 s, one in twice as many.
# KMC_ALLOC_STRIDE=k (make check-full: 1) takes one in k throughout.
# Into STRIDE, how.
ALLOC_OPEN_STRIDE=4
ALLOC_STRIDE=1
alloc_points() {
	local total=$1 k=${KMC_ALLOC_STRIDE:-$ALLOC_STRIDE} ko=${KMC_ALLOC_STRIDE:-$ALLOC_OPEN_STRIDE} n=1
	if [ -z "${KMC_ALLOC_STRIDE:-}" ] && [ -n "${KMC_SANITIZED:-}" ]; then
		k=$((2 * k))
		ko=$((2 * ko))
	fi
	POINTS=()
	for (( ; n <= total && n <= OPEN_ALLOCS; n += ko)); do POINTS+=("$n"); done
	for (( ; n <= total; n += k)); do POINTS+=("$n"); done
	((total < 1)) || [ "${POINTS[-1]}" = "$total" ] || POINTS+=("$total")
	if [ "$k" = 1 ] && [ "$ko" = 1 ]; then
		STRIDE=each
	else
		STRIDE="1 in $ko of the first $OPEN_ALLOCS (the open), 1 in $k of the rest, and the last"
	fi
}

# ---- the sweeps -------------------------------------------------------------------
# sweep WHAT FROM ARGS...: kmc ARGS from state FROM, once under the shim
# to count its steps, then with each step failing, killed at each step
# (not under make check-sanitize: faultlib.sh), and each allocation
# failing (alloc_points), each run checked by one_run. Sets FROM, AT
# (what to call the run in checks) and MODE (fail, kill, alloc) for the
# suite's hooks (below).
sweep() {
	local what=$1 n total mode k kill t0=$SECONDS
	local -A tally=()
	FROM=$2
	shift 2
	load "$FROM"
	inspect
	MKS_FROM=$MKS_NOW
	mk_set
	MKSET_FROM=$MKSET
	UNTOUCHED=0
	faulty 0 0 "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "the shim counted the steps of $what" test "$steps" -gt 5
	total=$steps
	for mode in fail $(kill_mode); do
		kill=0
		[ "$mode" = fail ] || kill=1
		for ((n = 1; n <= total; n++)); do
			AT="$what, step $n of $total failing"
			[ "$mode" = fail ] || AT="$what, killed at step $n of $total"
			MODE=$mode
			load "$FROM"
			faulty "$n" "$kill" "$@"
			one_run
			k=$mode.ok
			[ "$rc" = 0 ] || k=$mode.failed
			tally[$k]=$((${tally[$k]:-0} + 1))
		done
	done
	kills_wanted || skip_kills "$what"
	echo "# $what: $total steps; failing: exit 0 ${tally[fail.ok]:-0} times," \
		"failed ${tally[fail.failed]:-0}; $UNTOUCHED of all the runs wrote nothing;" \
		"the sweep took $((SECONDS - t0)) s"

	t0=$SECONDS
	UNTOUCHED=0
	open_allocs "$FROM"
	load "$FROM"
	FAULT_OPS=alloc faulty 0 0 "$@"
	check "$what, allocations counted: succeeds without a fault" test "$rc" = 0
	check "the shim counted the allocations of $what" test "$steps" -gt 5
	total=$steps
	alloc_points "$total"
	local oks=0 fails=0 notoom=0
	for n in "${POINTS[@]}"; do
		AT="$what, allocation $n of $total failing"
		MODE=alloc
		load "$FROM"
		FAULT_OPS=alloc faulty "$n" 0 "$@"
		if [ "$rc" = 0 ]; then
			oks=$((oks + 1))
		else
			fails=$((fails + 1))
			slurp "$RUN_ERR"
			[[ $REPLY =~ $OOM_MSG ]] || notoom=$((notoom + 1))
		fi
		one_run
	done
	check "the shim is active: with some allocation of $what failing, it failed" test "$fails" -gt 0
	echo "# $what, allocations: $total; ran ${#POINTS[@]} ($STRIDE):" \
		"exit 0 $oks times, failed $fails ($notoom of them without 'out of memory' in the message);" \
		"$UNTOUCHED wrote nothing; $((SECONDS - t0)) s"
}

# untouched: the run wrote nothing. The vault folder, each file in it
# (the lock file aside) and both config files have the modification
# times of state FROM, which cp -a kept, and no file came or went: they
# hold the bytes of FROM, which the checks saw whole at the start.
same_mtime() { [ -e "$1" ] && [ -e "$2" ] && ! [ "$1" -nt "$2" ] && ! [ "$1" -ot "$2" ]; }
untouched() {
	local from=$T/saved.$FROM f n=0 m=0
	same_mtime "$V" "$from/vault" && same_mtime "$CONF" "$from/app.conf" &&
		same_mtime "$CONF2" "$from/other.conf" || return 1
	for f in "$V"/* "$V"/.[!.]*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		[[ $f == */items.mdb-lock ]] || same_mtime "$f" "$from/vault/${f##*/}" || return 1
	done
	for f in "$from/vault"/* "$from/vault"/.[!.]*; do
		[ ! -e "$f" ] || m=$((m + 1))
	done
	[ "$n" = "$m" ]
}

# one_run: the checks of every run, around the suite's hooks.
one_run() {
	case $MODE in
	kill)
		check "$AT: the shim killed it" killed
		;;
	fail)
		if [ "$rc" != 0 ]; then
			check "$AT: exits non-zero without a crash" no_crash
			check "$AT: the message starts 'kmc: ' and names the fault" names_fault
		fi
		;;
	alloc)
		if [ "$rc" != 0 ]; then
			check "$AT: exits non-zero without a crash" no_crash
			check "$AT: a message starting 'kmc: ', no memory error report" says_kmc
		fi
		;;
	esac
	[ "$MODE" = kill ] || check "$AT: nothing staged or temporary left" no_staged_files
	[ "$MODE" = kill ] || check "$AT: the message blames no string of the config files" no_string_blamed
	[ "$rc" = 0 ] || check "$AT: the message does not say both that nothing and that something changed" \
		not_both_told
	if untouched; then
		# The state FROM, as it was: what the suite's as_told looks at is
		# known; a run that wrote nothing cannot have done its work.
		UNTOUCHED=$((UNTOUCHED + 1))
		check "$AT: it wrote nothing, and did not exit 0" test "$rc" != 0
		MKS_NOW=$MKS_FROM
		MKSET=$MKSET_FROM
		[ "$MODE" = kill ] || as_told
		return
	fi
	if [ "$REPAIR" = 1 ]; then
		# What a server reading the vault sees, before anything repairs it.
		inspect
		check "$AT: before repair, every record and string opens with its value" opens_all
		before_repair
		check "$AT: kmc repair succeeds" repaired
		AFTER="after repair"
	else
		AFTER="with no repair"
	fi
	inspect
	check "$AT: $AFTER, both keystores ok and identical" healthy
	check "$AT: $AFTER, every record and string opens with its value, and the config files keep mode, owner and group" \
		opens_all
	mk_set
	[ "$MODE" = kill ] || as_told
	after_repair
}
# The suite's: REPAIR=1 runs kmc repair after each run that wrote
# something, with before_repair first (the vault as the run left it, seen
# by inspect); REPAIR=0, for a command that does not change the
# keystores, wants the vault healthy as the run left it. as_told (not
# after a kill): what the message said against what was done (MKSET,
# MKS_NOW and the config files); after_repair: the rest.
REPAIR=1
before_repair() { :; }
as_told() { :; }
after_repair() { :; }
