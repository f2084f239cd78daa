#!/usr/bin/env bash
# test_token_keys_faults.sh - kmc key gen --on-token and kmc import
# --on-token broken at each file-system step (the token's own writes,
# SoftHSM2's object files, count too), then killed at each step, under the
# fault shim (tests/faultinject.c, faultlib.sh).
#
# Failing at a step: either exit 0 and the whole new state (the vault's
# bundle naming the key, the key on the token), or an error that names
# the fault and leaves the vault as it was. Killed at a step: after kmc
# repair the vault is the old state or the new one. Either way, after kmc
# repair an old state leaves no key of that label on the token: the
# vault listed the key before the token made it, so one the failing run
# could not destroy again, or one a killed run made, is destroyed by the
# repair; and nothing waits to be destroyed any more.
# Time: one step in STEP_STRIDE of each pass (KMC_STEP_STRIDE=1: each).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"
STEP_STRIDE=${KMC_STEP_STRIDE:-4}

V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
# on_token LABEL: the token holds a private key of that label.
on_token() { p11 --list-objects --type privkey | grep -Eq "^ *label: +$1\$"; }

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
t "a vault" kmc init
token_vault_save

# state NAME: "new" (the bundle's key item names a key the token holds),
# "old" (no NAME in the vault), else what is wrong.
state() {
	local list
	list=$(kmc list 2>&1) || { echo "kmc list fails: $list"; return; }
	if ! grep -q "^$1/key " <<<"$list"; then
		echo old
	elif grep -Eq "^$1/key +token-key" <<<"$list" && on_token "$1"; then
		echo new
	else
		echo "a mix: $(grep "^$1" <<<"$list" | tr '\n' ';')"
	fi
}

# faulty N KILL CMD...: kmc CMD under the shim, step N failing (0: none;
# KILL=1: killed there); sets rc and steps.
faulty() {
	local n=$1 kill=$2
	shift 2
	rm -f "$COUNT"
	LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
fails() { ! "$@" 2>/dev/null; }
names_fault_or_token() {
	grep -Eq "$FAULT_MSG|: CKR_[A-Z_]+ \(0x" "$T/last.err" ||
		{ echo "message was: $(cat "$T/last.err")" >&2; false; }
}
waits_none() {
	local js
	js=$("$KMC" --vault "$V" status --json 2>/dev/null)
	[[ $js == *'"token_destroys_pending":0'[,}]* ]] || { echo "status --json: $js" >&2; false; }
}

# sweep WHAT NAME CMD...: the steps of CMD (which makes bundle NAME on the
# token), failing and then killed at each one in STEP_STRIDE.
sweep() {
	local what=$1 name=$2 n total mode st first made_at=
	shift 2
	token_vault_load
	faulty 0 0 "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "... and gives the new state" test "$(state "$name")" = new
	total=$steps
	check "the shim counted the steps of $what" test "$total" -gt 4
	echo "# $what: $total steps"
	for mode in fail $(kill_mode); do
		first=1
		[ "$mode" = fail ] || first=$((STEP_STRIDE / 2 + 1))
		for ((n = first; n <= total; n += STEP_STRIDE)); do
			local at="$what, step $n of $total failing"
			token_vault_load
			if [ "$mode" = fail ]; then
				faulty "$n" 0 "$@"
			else
				at="$what, killed at step $n of $total"
				faulty "$n" 1 "$@"
				check "$at: the shim killed it" killed
				# The first kill that left a key the vault does not name.
				if [ -z "$made_at" ] && on_token "$name" &&
					! kmc list 2>/dev/null | grep -q "^$name/key "; then
					made_at=$n
				fi
			fi
			check "$at: kmc repair then succeeds" bash -c "'$KMC' --vault '$V' repair >/dev/null 2>&1"
			check "$at: ... and leaves nothing waiting to be destroyed" waits_none
			st=$(state "$name")
			check "$at: the old state or the new, never a mix ($st)" \
				bash -c '[ "$1" = old ] || [ "$1" = new ]' _ "$st"
			if [ "$mode" = fail ] && [ "$rc" = 0 ]; then
				check "$at yet exit 0: the new state" test "$st" = new
			elif [ "$mode" = fail ]; then
				check "$at: exits non-zero without a crash" no_crash
				cp "$RUN_ERR" "$T/last.err"
				check "$at: the message names the fault (the token's, for its own files)" \
					names_fault_or_token
			fi
			if [ "$st" = old ]; then
				check "$at: after kmc repair no key of that label is on the token" \
					fails on_token "$name"
			fi
		done
	done
	token_vault_load
	faulty "$total" 1 "$@"
	kmc repair >/dev/null 2>&1
	t "$what, after a kill: a key gen of another name goes through" \
		kmc key gen other --on-token "$TOK"
	if kills_wanted; then
		check "$what: a kill left a key on the token the vault did not take" test -n "$made_at"
		[ "$name" = web ] && KEYGEN_MADE_AT=$made_at
		token_vault_load
		faulty "${made_at:-1}" 1 "$@"
		t_err 8 "$what again before kmc repair: the label is taken (exit 8), and kmc repair named" \
			"already has an object with object=$name.*kmc repair removes those no record names" \
			"$KMC" --vault "$V" "$@"
		t "$what, killed at step ${made_at:-?} leaving its key: kmc repair" kmc repair
		check "... names the key it removed" grep -q "removed from the token: pkcs11:.*object=$name[?;]" "$LAST_ERR"
		t "$what again under the same label then goes through" "$KMC" --vault "$V" "$@"
		check "... and gives the new state" test "$(state "$name")" = new
	fi
}

sweep "key gen --on-token" web key gen web --on-token "$TOK"
sweep "import --on-token" server import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --on-token "$TOK"

# A key gen given its own id= (and its PIN by --pin-file, so its URI has
# no pin-source), killed once the token made the key: the same id again
# is refused (exit 8) pointing at kmc repair, and kmc repair destroys the
# key once given the PIN (without it the key waits, the note saying how
# to give it); then the same id goes through. A user id takes no more
# steps than a random one, so the step the sweep found applies.
if kills_wanted && [ -n "${KEYGEN_MADE_AT:-}" ]; then
	IDURI="pkcs11:token=srv;id=%42%42?module-path=$MOD"
	token_vault_load
	faulty "$KEYGEN_MADE_AT" 1 key gen web --pin-file "$PINF" --on-token "$IDURI"
	held_not_named() { on_token web && [ "$(state web)" = old ]; }
	check "key gen id=4242 killed at step $KEYGEN_MADE_AT: the token holds the key, the vault not" \
		held_not_named
	t_err 8 "the same id again before kmc repair: refused (exit 8), naming the id and kmc repair" \
		"already has an object with .*id=4242.*kmc repair removes those no record names" \
		kmc key gen web --pin-file "$PINF" --on-token "$IDURI"
	t "kmc repair without the PIN: exit 0" kmc repair
	check "... the key waits, the note saying how to give the PIN" \
		grep -q "could not remove from the token: .*id=%42%42.*no pin-source: give the PIN with --pin-file" "$LAST_ERR"
	check "... and is still on the token" on_token web
	t "kmc repair --pin-file" kmc repair --pin-file "$PINF"
	check "... removes it" fails on_token web
	check "... and nothing waits" waits_none
	t "the same id then goes through" kmc key gen web --pin-file "$PINF" --on-token "$IDURI"
	check "... and gives the new state" test "$(state web)" = new
fi

# The step the sweeps sample past: SoftHSM2 writes a new object's file
# an attribute at a time, opening it again for each; the last of those
# opens failing, it answers CKR_GENERAL_ERROR and keeps the object, whole
# on disk, out of the failing process's view, where kmc looked for what
# to take back and found nothing; the next process loads it. The vault
# must keep the key listed for kmc repair, which removes it.
# rewrite_step CMD...: the step of the last open of the first object file
# the command writes (empty: none seen).
rewrite_step() {
	token_vault_load
	{ LD_PRELOAD="$SO" KMC_FAULT_TRACE=1 "$KMC" --vault "$V" "$@" \
		>/dev/null 2>"$T/trace" </dev/null; } 2>/dev/null
	awk '$1 == "faultinject:" && $3 == "open" && $4 ~ /\.object$/ &&
		$4 !~ /\/token\.object$/ { if (f == "") f = $4; if ($4 == f) { n = $2 } }
		END { sub(/^#/, "", n); print n }' "$T/trace"
}
for what in "key gen" import; do
	name=web
	cmd=(key gen web --on-token "$TOK")
	[ "$what" = "key gen" ] || {
		name=server
		cmd=(import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" --on-token "$TOK")
	}
	n=$(rewrite_step "${cmd[@]}")
	check "$what: the trace shows the token opening the new key's object file again" test -n "$n"
	token_vault_load
	faulty "${n:-1}" 0 "${cmd[@]}"
	check "$what, that open failing: refused, naming the token's error" test "$rc" != 0
	check "$what, that open failing: the old state" test "$(state "$name")" = old
	t "$what, that open failing: kmc repair" kmc repair
	check "... removes the key the token kept" fails on_token "$name"
	check "... and nothing waits to be destroyed" waits_none
done

done_testing
