#!/usr/bin/env bash
# test_mk_faults_retire.sh - kmc mk retire 1 --conf other.conf once
# everything is sealed by key 2: each step failing, killed at each step,
# each allocation failing (mk_faults.sh). Key 1 is then present or gone,
# as the message said, and never a vault that does not open: before kmc
# repair, every record and string opens as a reader sees them, and the
# set of master keys is the old or the new; after it, a retire left
# undone is done by running it again. The refusals (exit 10) too: the
# active key, a key that still seals records, one that still seals
# strings of a file only --conf names (other.conf's two, legacy.conf's
# one), each with "nothing was changed"; and legacy.conf's with each
# allocation failing: never a retire that goes through.
. "$(dirname "${BASH_SOURCE[0]}")/mk_faults.sh"

RETIRE=(mk retire 1 --conf "$CONF2")
MK_retired='[{"id":2,"active":true,"items":7,"old_versions":5}]'

# ---- refusals ---------------------------------------------------------------------
refused() { # FROM DESC REGEX ARGS...: exit 10, the message, nothing changed
	local from=$1 desc=$2 re=$3
	shift 3
	load "$from"
	t_err 10 "$desc: exit 10, the message says why and that nothing was changed" \
		"^kmc: retiring master key [0-9]+ refused, nothing was changed: .*$re" kmc "$@"
	check "$desc: the vault is as it was" test "$(snapshot "$V")" = "$(snapshot "$T/saved.$from/vault")"
	check "$desc: the config files are as they were" conf_unchanged "$from"
}
refused rotated "retire 2, the active key" 'is the active one' mk retire 2
refused rotated "retire 1 before any rewrap" \
	'still seals 12 item records \(5 of them old versions\); kmc mk rewrap' mk retire 1
load rotated
t "kmc mk rewrap without --conf: the records and app.conf, not other.conf" plain mk rewrap
save half
refused half "retire 1 --conf other.conf, which still holds two strings of key 1" \
	"still seals 2 kmc: strings in $CONF2 \\(the first on line 2\\); kmc mk rewrap --conf" \
	mk retire 1 --conf "$CONF2"

# ---- faults -----------------------------------------------------------------------
before_repair() { set_before_repair "$MK_rewrapped" "$MK_retired"; }
key1_gone_again() { # a retire left undone: run again, it is done
	[ "$MKSET" = "$MK_retired" ] && return
	run_ok plain "${RETIRE[@]}" && mk_set && set_is "$MK_retired"
}
# A failed write is no refusal: only the checks before it may say one.
not_refused() {
	slurp "$RUN_ERR"
	[[ $REPLY != *refused* ]] || { echo "message was: $REPLY" >&2; false; }
}
as_told() {
	check "$AT: the master keys are the set the message said" set_as_told "$MK_rewrapped" "$MK_retired"
	[ "$rc" = 0 ] || [ "$MODE" != fail ] ||
		check "$AT: a failed write is not called a refusal" not_refused
}
after_repair() {
	check "$AT: the config files are untouched" conf_unchanged rewrapped
	check "$AT: the master keys are the old set or the new" set_old_or_new "$MK_rewrapped" "$MK_retired"
	check "$AT: key 1 is gone, or kmc mk retire 1 run again removes it" key1_gone_again
}

sweep "mk retire 1" rewrapped "${RETIRE[@]}"

# ---- a refused retire, each allocation failing --------------------------------------
# legacy.conf, which only --conf names, holds one string of key 1 (S2 of
# other.conf as it was before the rewrap). The refusal that keeps it
# opening must hold under any allocation failing: exit non-zero, nothing
# written (key 1 kept). (Nothing is written at all: no step sweep.) Not under
# make check-sanitize: what it checks is an outcome, which the release
# build shows as well, and its code runs under ASan in the sweeps (the
# retire's scan above, each string's decryption under each allocation
# failing in test_mk_faults_rewrap.sh).
LEGACY=$T/legacy.conf
printf 'legacy = %s\n' "$S2" >"$LEGACY"
chmod 600 "$LEGACY"
refused rewrapped "retire 1 --conf legacy.conf, which holds a string of key 1" \
	"still seals 1 kmc: string in $LEGACY \\(the first on line 1\\)" mk retire 1 --conf "$LEGACY"
if [ -z "${KMC_SANITIZED:-}" ]; then
	FROM=rewrapped
	open_allocs rewrapped
	load rewrapped
	FAULT_OPS=alloc faulty 0 0 mk retire 1 --conf "$LEGACY"
	check "retire refused, allocations counted: exit 10" test "$rc" = 10
	total=$steps
	alloc_points "$total"
	for n in "${POINTS[@]}"; do
		AT="mk retire 1 --conf legacy.conf refused, allocation $n of $total failing"
		load rewrapped
		FAULT_OPS=alloc faulty "$n" 0 mk retire 1 --conf "$LEGACY"
		check "$AT: exits non-zero without a crash" test "$rc" != 0 -a "$rc" -lt 128
		check "$AT: a message starting 'kmc: ', no memory error report" says_kmc
		check "$AT: the message blames no string of the config files" no_string_blamed
		check "$AT: it wrote nothing (key 1 kept)" untouched
	done
	echo "# mk retire 1 --conf legacy.conf refused, allocations: $total; ran ${#POINTS[@]} ($STRIDE)"
else
	echo "# skip: mk retire 1 refused with each allocation failing: make check runs it"
fi

done_testing
