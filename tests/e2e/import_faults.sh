# import_faults.sh - sourced by the test_import_faults_*.sh suites: the
# import transaction (vault/journal.h) broken at every step. Under the
# fault shim (tests/faultinject.c) each command is run once to count its
# steps, then once for each step N with step N failing (KMC_FAULT_AT=N)
# and once with the process killed there (KMC_FAULT_KILL=1). After each,
# `kmc repair` runs without a fault, and the user must find either the
# whole old state or the whole new state: the vault's items (`kmc list
# --json`: names, types, versions, sizes, old versions), the keys folder
# (names, modes, bytes), the config file (mode, bytes; a new
# server_key_mm by what it decrypts to) - never a mix, and no
# .NAME.kmc-new file left anywhere. A failed command must name the fault,
# and say "nothing was changed" only when so; when its change went
# through after all, it must say so and name kmc repair.
#
# The commands (each suite sweeps one of them, with one kind of fault):
#   IMPORT    kmc import ... -r --conf     into a vault that holds nothing
#                                          yet (state "fresh")
#   REPLACE   kmc import --replace --conf  over that bundle (state
#                                          "imported"), with a new key and
#                                          certificate and no CRL
#   CRL       kmc crl update               a CRL that revokes the client
#
#   step_sweep WHAT OLD CMD...   each file-system step failing, then killed
#                                at each step (test_import_faults_*.sh)
#   own_alloc_sweep WHAT OLD CMD...
#                                each allocation kmc's own code asks for
#                                (KMC_FAULT_NEAR) failing in turn
#                                (test_import_faults_*_own_alloc.sh)
#   alloc_sweep WHAT OLD CMD...  all allocations, OpenSSL's and libc's
#                                included, sampled (alloc_points)
#                                (test_import_faults_*_alloc.sh)
# A suite may set, before its sweeps (promote_faults.sh does):
#   MIN_STEPS=N       the fewest steps the command must count (10)
#   CERT_INFO=NAME    what `kmc cert info NAME --json` serves is part of
#                     the state too (none)
#   KEY_PASSWORDS="F..."  the keys folder's server.key, where it is not
#                     the old state's bytes, is shown by its public key
#                     and which of these password files opens it, not by
#                     its bytes (kmc promote encrypts it afresh)
#   STATUS_CHECK=1    `kmc status` must exit 0 after each kmc repair
#   BLAME_CHECK=1     a run failed by an allocation must not blame its
#                     input: no exit 2 (bad usage or input), 3 (a wrong
#                     password) or 9 (a key or certificate at fault, an
#                     algorithm OpenSSL does not offer), no "invalid
#                     argument", "does not open" or "does not offer"
#   STEP_STRIDE=k     step_sweep fails each k-th step from the first and
#                     kills at each k-th from the (k/2+1)-th, the last
#                     always (1: each); KMC_STEP_STRIDE=k overrides it
#                     (make check-full: 1)
#   OWN_ALLOC_STRIDE=k  own_alloc_sweep fails each k-th allocation (2:
#                     from the first in make check, from the second in
#                     make check-sanitize), the last always (1: each);
#                     KMC_ALLOC_STRIDE=k overrides it (make check-full: 1)
# Under an allocation fault (KMC_FAULT_OPS=alloc: malloc, calloc,
# realloc, sodium_malloc) the command must succeed, or exit below 128
# with a "kmc: " line, and after kmc repair the old state or the new, as
# above.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault		# every run works on a vault at this path,
CONF=$T/app.conf	# and on this config file
KD=$V/keys/server	# the default keys folder of the bundle
kmc() { "$KMC" --vault "$V" "$@"; }
look() { "$KMC_LOOK" --vault "$V" "$@"; }

# ---- material -------------------------------------------------------------------

P=$T/pki
KP='server-key-password'
KP2='the replacement key password'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KP"
PW=$T/pw
secret_file "$PW" "$KP"
PW2=$T/pw2
secret_file "$PW2" "$KP2"
ossl() { openssl "$@" >"$T/.ossl" 2>&1 || { cat "$T/.ossl" >&2; return 1; }; }
# The replacement: a P-384 key (encrypted, so that its copy is the same
# bytes on every run) and a certificate for it from the same CA.
R=$T/repl
check "made the replacement key and certificate" bash "$P/issue.sh" "$R" P-384 "$KP2"
cp -a "$P" "$T/pki-rc"
check "revoked the client (crl.sh client.crt) for a new CRL" bash "$T/pki-rc/crl.sh" client.crt
NEWCRL=$T/new.crl
cp "$T/pki-rc/ca.crl" "$NEWCRL"

IMPORT=(import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" -r "$P/ca.crl"
	--conf "$CONF" --password-file "$PW")
REPLACE=(import --replace -c "$P/ca.crt" -s "$R.crt" -k "$R.key" --conf "$CONF"
	--password-file "$PW2")
CRL=(crl update server -r "$NEWCRL")

# ---- states -----------------------------------------------------------------------
# A state is kept as a copy of the vault (keys folder inside) and of the
# config file; load puts it back at $V and $CONF, byte for byte.

# The state file beside the host key goes with each state (lib.sh's
# state_save): it only moves forward, and a vault put back without it is
# a rolled-back folder.
save() {
	rm -rf "$T/saved.$1"; mkdir "$T/saved.$1" && cp -a "$V" "$CONF" "$T/saved.$1/" &&
		state_save "$V" "$T/saved.$1.state"
}
load() { # (V and CONF are $T/vault and $T/app.conf: one cp puts both)
	rm -rf "$V" "$CONF" && cp -a "$T/saved.$1/vault" "$T/saved.$1/app.conf" "$T/" &&
		state_load "$V" "$T/saved.$1.state"
}

# What the user sees of a state, as text: the items (`kmc list --json`
# less the times they were stored), the keys folder's names, modes and
# bytes, the config file's mode and bytes. server_key_mm is a fresh
# ciphertext on every run: one that is not the old state's is shown by
# what it decrypts to. This runs after every step, so it starts as few
# processes as it can (kmc list, stat, and kmc decrypt for a new string).
shopt -s extglob
TMPF=$T/tmp.out
MIN_STEPS=10
CERT_INFO=
KEY_PASSWORDS=
OLD_KEY=
STATUS_CHECK=
BLAME_CHECK=
STEP_STRIDE=1
# kmc's own allocations: make check fails the odd ones as built for
# release, make check-sanitize the even ones under ASan (the last in
# both), so that CI fails each once within its 20 minutes; make
# check-full (KMC_ALLOC_STRIDE=1) fails each in both builds.
OWN_ALLOC_STRIDE=2
OWN_ALLOC_FIRST=1
[ -z "${KMC_SANITIZED:-}" ] || OWN_ALLOC_FIRST=2
OLD_MM=
slurp() { # slurp FILE: its text into REPLY, without a process
	REPLY=
	if [ -f "$1" ]; then IFS= read -r -d '' REPLY <"$1"; fi
	return 0
}
fingerprint() { # into FP
	local mm files=() f
	FP="== items"$'\n'
	look list --json >"$TMPF" 2>&1
	slurp "$TMPF"
	FP+=${REPLY//\"created\":+([0-9]),/}
	if [ -n "$CERT_INFO" ]; then
		look cert info "$CERT_INFO" --json >"$TMPF" 2>&1
		slurp "$TMPF"
		FP+="== cert info $CERT_INFO"$'\n'$REPLY$'\n'
	fi
	FP+="== keys folder, config file"$'\n'
	for f in "$KD"/* "$KD"/.[!.]*; do [ -e "$f" ] && files+=("$f"); done
	stat -c '%n %F %a' "$KD" "${files[@]}" "$CONF" >"$TMPF" 2>&1
	slurp "$TMPF"
	FP+=$REPLY
	for f in "${files[@]}" "$CONF"; do
		slurp "$f"
		[ -z "$KEY_PASSWORDS" ] || [ "$f" != "$KD/server.key" ] ||
			[ "$REPLY" = "$OLD_KEY" ] || key_by_pub "$f"
		FP+="-- $f"$'\n'$REPLY
	done
	if [[ $REPLY =~ (^|$'\n')server_key_mm\ =\ ([^$'\n']*) ]] &&
	    [ "${BASH_REMATCH[2]}" != "$OLD_MM" ]; then
		mm=${BASH_REMATCH[2]}
		FP=${FP/"server_key_mm = $mm"/server_key_mm = <mm>}
		look decrypt "$mm" >"$TMPF" 2>&1
		slurp "$TMPF"
		FP+="== server_key_mm decrypts to"$'\n'"$REPLY"$'\n'
	fi
}
key_by_pub() { # key_by_pub FILE: into REPLY, its public key and the password file that opens it
	local pw
	REPLY="(opens with none of $KEY_PASSWORDS)"
	for pw in $KEY_PASSWORDS; do
		openssl pkey -in "$1" -passin "file:$pw" -pubout >"$TMPF" 2>/dev/null || continue
		slurp "$TMPF"
		REPLY="opens with $pw: $REPLY"
		break
	done
}
OLD_FP=
NEW_FP=
show_diff() { # show_diff LABEL WANTED: how FP differs from WANTED
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
was_old() { # after old_or_new: the old state (the config file included)
	[ "$FP" = "$OLD_FP" ] || {
		slurp "$RUN_ERR"
		echo "the message was: $REPLY" >&2
		show_diff "but after kmc repair, the new state, not the old:" "$OLD_FP"
		false
	}
}
was_new() { [ "$FP" = "$NEW_FP" ] || { show_diff "not the new state:" "$NEW_FP"; false; }; }
no_staged_files() { # no .NAME.kmc-new (nor .NAME.tmp-*) anywhere
	local left
	# Globs, not find: where staging happens, beside the vault's files,
	# in the keys folder and its parent, beside the config file.
	shopt -s nullglob
	left=("$V"/.*.kmc-new "$V"/.*.tmp-* "$V"/keys/.*.kmc-new "$KD"/.*.kmc-new
		"$KD"/.*.tmp-* "$T"/.*.kmc-new "$T"/.*.tmp-*)
	shopt -u nullglob
	[ ${#left[@]} = 0 ] || { echo "left behind: ${left[*]}" >&2; false; }
}
repair() { # kmc repair without a fault (then kmc status, with STATUS_CHECK)
	kmc repair >"$TMPF" 2>&1 </dev/null ||
		{ echo "kmc repair: exit $?: $(cat "$TMPF")" >&2; return 1; }
	[ -z "$STATUS_CHECK" ] || look status >"$TMPF" 2>&1 </dev/null ||
		{ echo "kmc status after kmc repair: exit $?: $(cat "$TMPF")" >&2; false; }
}
# The fault, and the file or folder it struck: a path of the test's
# own ($T) before it, not a bare "Input/output error".
names_fault() {
	slurp "$RUN_ERR"
	[[ $REPLY =~ $FAULT_MSG && $REPLY == "kmc: "* && $REPLY == *"$T/"*[a-z]*": "* ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
fails() { ! "$@" 2>/dev/null; }
says_repair_finishes() {
	slurp "$RUN_ERR"
	[[ $REPLY == *"kmc repair"* && $REPLY != *"nothing was changed"* ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
says_nothing_changed() { slurp "$RUN_ERR"; [[ $REPLY == *"nothing was changed"* ]]; }
# A failed run under allocation faults: a "kmc: " line, and no sanitizer's
# or libc's report of a memory error (those may exit below 128).
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:|(malloc|free|realloc)\(\): |double free or corruption'
says_kmc() {
	slurp "$RUN_ERR"
	[[ $REPLY == "kmc: "* || $REPLY == *$'\n'"kmc: "* ]] && ! [[ $REPLY =~ $SAN_MSG ]] ||
		{ echo "exit $rc; message was: $REPLY" >&2; false; }
}
OOM_MSG='out of memory|Cannot allocate memory'
not_grep() { ! grep -q "$1" "$2" || { echo "message was: $(cat "$2")" >&2; false; }; }
blames_no_input() {
	[ "$rc" != 2 ] && [ "$rc" != 3 ] && [ "$rc" != 9 ] &&
		! grep -Eq 'invalid argument|does not open|does not offer' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
says_oom() { slurp "$RUN_ERR"; [[ $REPLY =~ $OOM_MSG ]]; }

# NEAR: the allocations of kmc's own code are those with kmc (or LMDB)
# among the NEAR callers nearest to them (the shim's KMC_FAULT_NEAR): 4
# reaches kmc's calls of malloc, strdup, asprintf, OPENSSL_malloc,
# BIO_new and the like, and the sodium_malloc of every secret - some 160
# in an import, each of them tried.
NEAR=4

# alloc_points TOTAL [all]: the N for an allocation pass, into POINTS
# (all: every one). Without all: every one up to ALLOC_ALL of them; above
# that, every k-th (1, 1+k, 1+2k, ... and the last), k = ceil(TOTAL /
# ALLOC_RUNS): about ALLOC_RUNS runs, at some 0.2 s each (the run, kmc
# repair, the fingerprint). Every one would take hours: an import makes
# some 26,600 allocations, --replace 26,400, crl update 8,400, nearly all
# of them OpenSSL's and libc's inside its decoders; kmc's own are tried
# each in the NEAR pass. Under make check-sanitize half as many runs,
# from the (k/4+1)-th, between those make check tries. KMC_ALLOC_STRIDE=k
# sets k (1: all of them); KMC_ALLOC_WINDOW=A-B keeps those from A to B.
ALLOC_ALL=400
ALLOC_RUNS=40
alloc_points() {
	local total=$1 k n first=${ALLOC_FIRST:-1}
	k=${KMC_ALLOC_STRIDE:-}
	[ "${2:-}" != all ] || k=1
	if [ -z "$k" ]; then
		local runs=$ALLOC_RUNS
		k=1
		# Under ASan, half as many, between the ones make check tries.
		[ -z "${KMC_SANITIZED:-}" ] || [ -n "${ALLOC_FIRST:-}" ] || runs=$((ALLOC_RUNS / 2))
		[ "$total" -le "$ALLOC_ALL" ] || k=$(((total + runs - 1) / runs))
		[ -z "${KMC_SANITIZED:-}" ] || [ -n "${ALLOC_FIRST:-}" ] || [ "$k" -lt 4 ] || first=$((k / 4 + 1))
	fi
	[ "$k" -gt 1 ] || first=1
	ALLOC_FROM=$first
	POINTS=()
	for ((n = first; n <= total; n += k)); do POINTS+=("$n"); done
	((total < 1)) || [ "${POINTS[-1]}" = "$total" ] || POINTS+=("$total")
	STRIDE=$k
	# KMC_ALLOC_WINDOW=A-B: only those from A to B (a look at one
	# stretch, such as a key's decryption, each one with stride 1).
	if [[ ${KMC_ALLOC_WINDOW:-} =~ ^([0-9]+)-([0-9]+)$ ]]; then
		local kept=()
		for n in "${POINTS[@]}"; do
			((n < BASH_REMATCH[1] || n > BASH_REMATCH[2])) || kept+=("$n")
		done
		POINTS=("${kept[@]}")
		ALLOC_FROM=${POINTS[0]:-none}
	fi
}

# step_points TOTAL MODE: the steps step_sweep tries in MODE (fail, kill),
# into POINTS: each k-th (STEP_STRIDE, KMC_STEP_STRIDE), a failing pass
# from the first, a killing one from the (k/2+1)-th so that the two
# passes break different steps, and the last always. Into STRIDE, how.
step_points() {
	local total=$1 k=${KMC_STEP_STRIDE:-$STEP_STRIDE} first=1 n
	[ "$2" = fail ] || first=$((k / 2 + 1))
	POINTS=()
	for ((n = first; n <= total; n += k)); do POINTS+=("$n"); done
	((total < 1)) || [ "${POINTS[-1]:-}" = "$total" ] || POINTS+=("$total")
	STRIDE=each
	[ "$k" = 1 ] || STRIDE="1 in $k from step $first, and the last"
}

# faulty N KILL CMD...: run kmc CMD under the shim, step N failing (0:
# none; KILL=1: killed there instead); sets rc and steps. FAULT_OPS
# narrows the counted calls (the shim's KMC_FAULT_OPS; empty: its
# default, the file-system calls).
FAULT_OPS=
FAULT_NEAR=0	# the shim's KMC_FAULT_NEAR: 0, every allocation counts
faulty() {
	local n=$1 kill=$2 asan=$RUN_ASAN_OPTIONS
	shift 2
	rm -f "$COUNT"
	# Only kmc's own failing (FAULT_NEAR): OpenSSL's name map never
	# loses an entry, and ASan's fast unwinder (half the time) will do.
	[ -z "$FAULT_OPS" ] || [ "$FAULT_NEAR" != 0 ] || asan=$ALLOC_ASAN_OPTIONS
	ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_NEAR="$FAULT_NEAR" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}

# scenario WHAT OLD CMD...: from the saved state OLD, run CMD once without
# the shim for the new state (OLD_FP and NEW_FP, which every sweep
# compares against), and check that the checks can tell a mix.
scenario() {
	local what=$1
	old=$2	# global: the sweeps start each run from it
	shift 2
	load "$old"
	OLD_MM=$(sed -n 's/^server_key_mm = //p' "$CONF")
	OLD_MM=${OLD_MM:-(none)}
	slurp "$KD/server.key"
	OLD_KEY=$REPLY
	fingerprint
	OLD_FP=$FP
	kmc "$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	check "$what without the shim succeeds" test "$rc" = 0
	fingerprint
	NEW_FP=$FP
	check "$what changes what the user sees (old and new differ)" test "$OLD_FP" != "$NEW_FP"
	check "$what: the new state lists the items and decrypts server_key_mm" \
		bash -c '[[ $1 != *"kmc: "* && $1 == *"server/meta"* ]]' _ "$NEW_FP"
	# The checks below can tell a mix: the new vault with the old keys
	# folder (a command that changes only items, kmc import --stage,
	# leaves no such mix to make).
	# (No keys folder before or after, kmc key gen: nothing to mix.)
	if { [ -e "$T/saved.$old/vault/keys/server" ] || [ -e "$KD" ]; } &&
	    ! diff -r "$T/saved.$old/vault/keys/server" "$KD" >/dev/null 2>&1; then
		rm -rf "$KD"
		[ ! -d "$T/saved.$old/vault/keys/server" ] || cp -a "$T/saved.$old/vault/keys/server" "$KD"
		check "$what: a mix (new items, old keys folder) is neither state" fails old_or_new
	else
		echo "# $what changes no file: only the items, in one store transaction"
	fi
	mkdir -p "$V/keys" && : >"$V/keys/.server.kmc-new"
	check "$what: a .NAME.kmc-new file left is seen" fails no_staged_files
}

# step_sweep WHAT OLD CMD...: the scenario, then CMD under the shim once
# to count the steps, then with each step failing, and killed at each step.
step_sweep() {
	local what=$1 n total mode t0=$SECONDS
	scenario "$@"
	shift 2
	load "$old"
	faulty 0 0 "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "$what under the shim without a fault gives the new state" is_new
	check "the shim counted the steps of $what" test "$steps" -gt "$MIN_STEPS"
	total=$steps
	echo "# $what: $total steps"
	load "$old"
	faulty 1 0 "$@"
	check "the shim is active: $what fails when its first step fails" test "$rc" != 0

	for mode in fail $(kill_mode); do
		olds=0 news=0 mixes=0
		step_points "$total" "$mode"
		for n in "${POINTS[@]}"; do
			local at="$what, step $n of $total failing"
			[ "$mode" = fail ] || at="$what, killed at step $n of $total"
			load "$old"
			if [ "$mode" = fail ]; then
				faulty "$n" 0 "$@"
				if [ "$rc" = 0 ]; then
					check "$at yet exit 0: the new state, at once" is_new
				else
					check "$at: exits non-zero without a crash" no_crash
					check "$at: the message names the fault and its file" names_fault
				fi
			else
				faulty "$n" 1 "$@"
				check "$at: the shim killed it" killed
			fi
			check "$at: kmc repair then succeeds" repair
			check "$at: after repair, the old state or the new, never a mix" old_or_new
			if [ "$FP" = "$OLD_FP" ]; then
				olds=$((olds + 1))
			elif [ "$FP" = "$NEW_FP" ]; then
				news=$((news + 1))
			else
				mixes=$((mixes + 1))
			fi
			if [ "$mode" = fail ] && [ "$rc" != 0 ] && says_nothing_changed; then
				check "$at: the message says nothing was changed, and so it is" was_old
			fi
			if [ "$mode" = fail ] && [ "$rc" != 0 ] && [ "$FP" = "$NEW_FP" ]; then
				check "$at, yet it went through: the message says so and names kmc repair" \
					says_repair_finishes
			fi
			if [ "$mode" = fail ] && [ "$rc" = 0 ]; then
				check "$at yet exit 0: still the new state after repair" was_new
			fi
			check "$at: no .NAME.kmc-new file is left" no_staged_files
		done
		echo "# $what, $([ $mode = fail ] && echo 'each step failing' || echo 'killed at each step')" \
			"($STRIDE):" \
			"then the old state $olds times, the new $news, a mix $mixes"
	done

	echo "# $what: the step sweep took $((SECONDS - t0)) s"
}

# own_alloc_sweep WHAT OLD CMD...: the scenario, then each allocation of
# kmc's own code failing in turn (alloc_pass with FAULT_NEAR).
own_alloc_sweep() {
	local what=$1 t0=$SECONDS
	scenario "$@"
	shift 2
	FAULT_NEAR=$NEAR alloc_pass "$what" "$what, own allocation" "$@"
	echo "# $what: the own-allocation sweep took $((SECONDS - t0)) s"
}

# alloc_sweep WHAT OLD CMD...: the scenario, then all of CMD's
# allocations counted, and each (each k-th: alloc_points) failing.
alloc_sweep() {
	local what=$1 t0=$SECONDS
	scenario "$@"
	shift 2
	alloc_pass "$what" "$what, allocation" "$@"
	echo "# $what: the allocation sweep took $((SECONDS - t0)) s"
}

# alloc_pass WHAT LABEL CMD...: CMD's allocations counted once (with
# FAULT_NEAR: only kmc's own, the "own allocations"), then the Nth failing for
# each N of alloc_points, from the state OLD_FP came from ($old).
alloc_pass() {
	local what=$1 label=$2 n total
	shift 2
	load "$old"
	FAULT_OPS=alloc faulty 0 0 "$@"
	check "${label}s counted: succeeds without a fault" test "$rc" = 0
	check "${label}s counted: the new state" is_new
	check "the shim counted the ${label}s" test "$steps" -gt 10
	total=$steps
	if [ "$FAULT_NEAR" = 0 ]; then
		alloc_points "$total"
	else
		ALLOC_FIRST=$OWN_ALLOC_FIRST KMC_ALLOC_STRIDE=${KMC_ALLOC_STRIDE:-$OWN_ALLOC_STRIDE} \
			alloc_points "$total"
	fi
	olds=0 news=0 mixes=0
	local fails=0 oks=0 notoom=0
	for n in "${POINTS[@]}"; do
		local at="$label $n of $total failing"
		load "$old"
		FAULT_OPS=alloc faulty "$n" 0 "$@"
		if [ "$rc" = 0 ]; then
			oks=$((oks + 1))
			check "$at yet exit 0: the new state, at once" is_new
		else
			fails=$((fails + 1))
			says_oom || notoom=$((notoom + 1))
			check "$at: exits non-zero without a crash" no_crash
			check "$at: a message starting 'kmc: ', no memory error report" says_kmc
			check "$at: the message does not blame the key's password" \
				not_grep 'password does not open' "$RUN_ERR"
			[ -z "$BLAME_CHECK" ] ||
				check "$at: neither exit 2, 3 nor 9, nor a message blaming the input" \
					blames_no_input
		fi
		check "$at: kmc repair then succeeds" repair
		check "$at: after repair, the old state or the new, never a mix" old_or_new
		if [ "$FP" = "$OLD_FP" ]; then
			olds=$((olds + 1))
		elif [ "$FP" = "$NEW_FP" ]; then
			news=$((news + 1))
		else
			mixes=$((mixes + 1))
		fi
		if [ "$rc" != 0 ] && says_nothing_changed; then
			check "$at: the message says nothing was changed, and so it is" was_old
		fi
		if [ "$rc" != 0 ] && [ "$FP" = "$NEW_FP" ]; then
			check "$at, yet it went through: the message says so and names kmc repair" \
				says_repair_finishes
		fi
		if [ "$rc" = 0 ]; then
			check "$at yet exit 0: still the new state after repair" was_new
		fi
		check "$at: no .NAME.kmc-new file is left" no_staged_files
	done
	# Most of an import's allocations are OpenSSL's, and most of those
	# it recovers from: the sampled ones may all have gone through (as
	# they did under ASan, whose count moved the samples). Then kmc's
	# own allocations are failed from the first until one fails the
	# command, to show the sweep is no empty one.
	local own=0 own_failed=0
	while ((fails == 0 && own_failed == 0 && own < 20)); do
		own=$((own + 1))
		load "$old"
		FAULT_OPS=alloc FAULT_NEAR=$NEAR faulty "$own" 0 "$@"
		if [ "$rc" != 0 ]; then
			own_failed=1
			check "$label failing: kmc's own allocation $own failing fails it without a crash" no_crash
			check "... with a message starting 'kmc: '" says_kmc
		fi
	done
	check "the shim is active: with some ${label} failing, the command failed" \
		test "$((fails + own_failed))" -gt 0
	echo "# ${label}s: $total; ran ${#POINTS[@]}" \
		"($([ "$STRIDE" = 1 ] && echo each || echo "1 in every $STRIDE from number $ALLOC_FROM, and the last")):" \
		"exit 0 $oks times, failed $fails ($notoom of them without 'out of memory' in the message);" \
		"then the old state $olds times, the new $news, a mix $mixes"
}

# ---- the starting states -------------------------------------------------------------
# fresh: an empty vault and a config file; imported: IMPORT run on it.

"$KMC" --vault "$V" init >/dev/null 2>&1
check "a vault to import into" test -f "$V/kmc.ks"
cat >"$CONF" <<'CONF'
# server settings
port = 5432
server_key = /etc/old/server.key
	ssl = on
CONF
chmod 640 "$CONF"
save fresh
t "the first import (for the later scenarios)" kmc "${IMPORT[@]}"
save imported
