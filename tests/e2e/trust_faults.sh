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
#
# The sweeps and the checks after each run: sweeplib.sh. This file: the
# vault and the sync files, what the user sees of them, and the checks
# of the files' bytes and modes (sweeplib.sh's hooks).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sweeplib.sh"

F1=$T/ca-one.pem
F2=$T/ca-two.pem
F3=$T/ca-three.pem
F4=$T/ca-four.pem	# no such file, until trust sync makes it

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
save() {
	rm -rf "$T/saved.$1" && mkdir "$T/saved.$1" && cp -a "$V" "$T"/ca-*.pem "$T/saved.$1/" &&
		state_save "$V" "$T/saved.$1.state"
}
load() {
	rm -rf "$V" "${FILES[@]}" && cp -a "$T/saved.$1/vault" "$T/saved.$1/"ca-*.pem "$T/" &&
		state_load "$V" "$T/saved.$1.state"
}
save one
t "trust add ca2 (for the states below)" look trust add ca2 "$P2/ca.crt" --store clients
save two
t "cert set-trust server clients (for the states below)" look cert set-trust server clients
save bound

# ---- what the user sees -----------------------------------------------------------
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
VIEWED=stores			# "a reader sees the old stores or the new"
PENDING_WHAT='trust store'	# what kmc status says is pending
STAGED_PROBE=$T/.ca-one.pem.kmc-new
FAULTS_MSGS=${TRUST_FAULTS_MSGS:-}
# What an allocation failing must not be called: something wrong with
# the input or the vault.
BLAME_RE='would be over|damaged|not a (CA )?certificate|holds [0-9]+ certificates|already (has|keeps|trusted)|has no alias|holds no|not valid yet|has expired|RFC 5280 allows|is older than'

# ---- the files' checks (sweeplib.sh's hooks) --------------------------------------
# Each file's bytes in the old state and the new, for the checks, which
# must tell a mix from either.
declare -A OLD_FILE NEW_FILE
remember_old() {
	local f
	OLD_FILE=()
	stat -c '%n %a %u %g' "${FILES[@]}" >"$TMPF" 2>&1
	slurp "$TMPF"
	OLD_STAT=$REPLY
	for f in "${FILES[@]}"; do slurp "$f"; OLD_FILE[$f]=$REPLY; done
}
remember_new() {
	local f
	for f in "${FILES[@]}"; do slurp "$f"; NEW_FILE[$f]=$REPLY; done
}
# A mix: the new store with an old file.
make_mix() {
	local f
	for f in "${FILES[@]}"; do
		[ "${OLD_FILE[$f]}" != "${NEW_FILE[$f]}" ] || continue
		rm -f "$f"
		[ ! -e "$T/saved.$FROM/${f##*/}" ] || cp -a "$T/saved.$FROM/${f##*/}" "$f"
		MIXED='the new store, an old file'
		break
	done
}
scenario_more() {
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
# Before repair, each file wholly its old bytes or its new. (Its mode,
# owner and group: after repair; a rename changes them with the bytes.)
reader_more() {
	local f
	for f in "${FILES[@]}"; do
		check "$AT: before repair, ${f##*/} is wholly old or wholly new" file_old_or_new "$f"
	done
}
file_old_or_new() { # FILE
	slurp "$1"
	[ "$REPLY" = "${OLD_FILE[$1]}" ] || [ "$REPLY" = "${NEW_FILE[$1]}" ] ||
		{ echo "$1 is neither old nor new: $REPLY" >&2; false; }
}
