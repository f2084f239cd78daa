# token_rotation_faults.sh - sourced by test_token_rotation_faults.sh
# (file-system steps) and test_token_rotation_faults_alloc.sh
# (allocations of kmc's own code): the write paths of a token key's
# rotation broken at each step, SoftHSM2's own object files counting too,
# under the fault shim (tests/faultinject.c, faultlib.sh): import
# --replace --on-token, import --stage --on-token over a staged key (which
# drops that key), promote, rm --old (which drops the old version's key)
# and rm. sweeps runs them all.
#
# The vault starts with bundle web on the token: an old version (label
# web), the live one and a staged one (web~ and 8 hex digits). After each
# broken run and kmc repair the vault is the old state or the new one, and:
# - every token key the vault names in that state is on the token: a key
#   is destroyed only after the commit that drops its last record;
# - a key made for a change the vault did not take is gone after kmc
#   repair: the vault listed it before the token made it, so one a failing
#   run could not destroy again, or one a killed run made, goes then;
# - a key the new state no longer names is gone after kmc repair: the
#   change's commit listed it as waiting to be destroyed, so a run that
#   failed to destroy it (exit 0: the change was made, and the message
#   says so) or was killed between the commit and the destruction leaves
#   it to kmc repair, which destroys it; nothing waits after the repair;
# - the provider signs with the live key the vault names.
# Time: some SAMPLES steps of each pass, evenly spread (KMC_STEP_STRIDE=N:
# one step in N, 1: each).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"

V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
keys() { token_labels; }

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
for k in k2 k3 k4; do
	"$P/issue.sh" "$T/$k" prime256v1 unused >/dev/null
done
imp() { # imp CERT KEY FLAGS...: an import of web on the token
	local c=$1 k=$2
	shift 2
	kmc import -c "$P/ca.crt" -s "$c" -k "$k" --name web --on-token "$TOK" "$@"
}
t "a vault" kmc init
t "web on the token" imp "$P/server.crt" "$P/server.plain.key"
t "web replaced (the old key stays)" imp "$T/k2.crt" "$T/k2.plain" --replace
LIVE=$(keys | grep -vx web)
t "a third key staged" imp "$T/k3.crt" "$T/k3.plain" --stage
STAGED=$(keys | grep -vx -e web -e "$LIVE")
mapfile -t B < <(keys)
check "the token holds web's three keys: old, live, staged" \
	test "${#B[@]}" = 3 -a -n "$LIVE" -a -n "$STAGED"
token_vault_save
# line ITEM: ITEM's version in kmc list.
line() { kmc list 2>/dev/null | grep -E "^$1 " | awk '{ print $3 }'; }

# faulty N KILL CMD...: kmc CMD under the shim, step N failing (0: none;
# KILL=1: killed there); sets rc and steps. FAULT_OPS (the shim's
# KMC_FAULT_OPS; empty: the file-system calls) and FAULT_NEAR choose what
# counts; MODES the passes (fail, and kill where faultlib.sh runs them).
FAULT_OPS=${FAULT_OPS:-}
FAULT_NEAR=${FAULT_NEAR:-0}
MODES=${MODES:-fail $(kill_mode)}
SAMPLES=${SAMPLES:-14}
faulty() {
	local n=$1 kill=$2 asan=$RUN_ASAN_OPTIONS
	shift 2
	rm -f "$COUNT"
	[ -z "$FAULT_OPS" ] || asan=$ALLOC_ASAN_OPTIONS
	ASAN_OPTIONS=$asan LD_PRELOAD="$SO" KMC_FAULT_AT="$n" KMC_FAULT_KILL="$kill" \
		KMC_FAULT_OPS="$FAULT_OPS" KMC_FAULT_NEAR="$FAULT_NEAR" \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
has_all() { # has_all LABEL...: the token holds each
	local have l
	have=$(keys)
	for l in "$@"; do
		grep -qx -- "$l" <<<"$have" || { echo "$l is not on the token (it holds: $(echo $have))" >&2; return 1; }
	done
}
extra() { keys | grep -vxF -f <(printf '%s\n' "${B[@]}"); }
waits_none() { waiting_json 0; }
names_fault_or_token() {
	grep -Eq "$FAULT_MSG|: CKR_[A-Z_]+ \(0x" "$RUN_ERR" ||
		{ echo "message was: $(cat "$RUN_ERR")" >&2; false; }
}

# Per scenario: state (prints old or new) and named STATE (the labels
# the vault names then, of B; a key made by the change is checked apart).
V_KEY0=$(line web/key) V_S0=$(line web/.s/key)
st_replace() { [ "$(line web/key)" = "$V_KEY0" ] && echo old || echo new; }
st_stage() { [ "$(line web/.s/key)" = "$V_S0" ] && echo old || echo new; }
st_promote() { kmc list 2>/dev/null | grep -q '^web/\.s/key ' && echo old || echo new; }
st_prune() { kmc list 2>/dev/null | grep -Eq '^web/key .*\(\+1 old\)' && echo old || echo new; }
st_rm() { kmc list 2>/dev/null | grep -q '^web/key ' && echo old || echo new; }

# sweep WHAT STATE_FN MAKES DROPS CERT CMD...: MAKES 1 when the change
# puts a new key on the token; DROPS the labels of B its new state no
# longer names; CERT the certificate the new state serves ("-": none).
sweep() {
	local what=$1 stf=$2 makes=$3 drops=$4 cert=$5 n total mode st first at
	local keep l stride
	shift 5
	keep=()
	for l in "${B[@]}"; do
		[[ " $drops " == *" $l "* ]] || keep+=("$l")
	done
	token_vault_load
	faulty 0 0 "$@"
	check "$what under the shim without a fault succeeds" test "$rc" = 0
	check "... and gives the new state" test "$($stf)" = new
	total=$steps
	check "the shim counted the steps of $what" test "$total" -gt 4
	stride=${KMC_STEP_STRIDE:-$((total / SAMPLES + 1))}
	echo "# $what: $total steps, one in $stride broken"
	for mode in $MODES; do
		first=1
		[ "$mode" = fail ] || first=$((stride / 2 + 1))
		for ((n = first; n <= total; n += stride)); do
			at="$what, step $n of $total failing"
			token_vault_load
			if [ "$mode" = fail ]; then
				faulty "$n" 0 "$@"
			else
				at="$what, killed at step $n of $total"
				faulty "$n" 1 "$@"
				check "$at: the shim killed it" killed
			fi
			check "$at: kmc repair then succeeds" bash -c "'$KMC' --vault '$V' repair >/dev/null 2>&1"
			check "$at: ... and leaves no key waiting to be destroyed" waits_none
			st=$($stf)
			if [ "$st" = old ]; then
				check "$at: the old state names keys all on the token" has_all "${B[@]}"
				if [ "$mode" = fail ]; then
					check "$at: exits non-zero without a crash" no_crash
					check "$at: ... not 0 (the change was not made)" test "$rc" != 0
					check "$at: the message names the fault" names_fault_or_token
				fi
				check "$at: no key made for it is left after kmc repair" test -z "$(extra)"
				continue
			fi
			check "$at: the new state names keys all on the token" has_all "${keep[@]}"
			if [ "$makes" = 1 ]; then
				check "$at: the key the change made is on the token" test "$(extra | wc -l)" = 1
			fi
			[ "$cert" = - ] || check "$at: the provider signs with the live key" signs_for "$cert"
			for l in $drops; do
				check "$at: $l, no longer named, is gone from the token after kmc repair" \
					bash -c "! grep -qx -- '$l' <<<\"\$1\"" _ "$(keys)"
			done
			if [ "$mode" = fail ] && [ "$rc" != 0 ]; then
				check "$at: exits non-zero without a crash" no_crash
				check "$at: the message names the fault" names_fault_or_token
			fi
		done
	done
}

sweeps() {
	sweep "import --replace --on-token" st_replace 1 "" "$T/k4.crt" \
		import -c "$P/ca.crt" -s "$T/k4.crt" -k "$T/k4.plain" --name web --replace --on-token "$TOK"
	sweep "import --stage --on-token over a staged key" st_stage 1 "$STAGED" "$T/k2.crt" \
		import -c "$P/ca.crt" -s "$T/k4.crt" -k "$T/k4.plain" --name web --stage --on-token "$TOK"
	sweep "promote" st_promote 0 "" "$T/k3.crt" promote web
	sweep "rm --old" st_prune 0 "web" "$T/k2.crt" rm web --old
	sweep "rm" st_rm 0 "web $LIVE $STAGED" - rm web
}
