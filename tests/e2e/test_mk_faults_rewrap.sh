#!/usr/bin/env bash
# test_mk_faults_rewrap.sh - kmc mk rewrap --conf other.conf right after
# a rotation (everything sealed by key 1, key 2 active): each step
# failing, killed at each step, each allocation failing (mk_faults.sh).
# Each config file is then wholly old or wholly new, each record and
# string opens with its value under key 1 or key 2, and the message's
# "sealed again" counts are what was sealed. Then kmc mk rewrap run
# again finishes (kmc mk list: nothing left on key 1) and kmc mk retire 1
# succeeds, after which everything still opens.
. "$(dirname "${BASH_SOURCE[0]}")/mk_faults.sh"

# make check tries one in 3 of rewrap's own allocations (some 45 of 130;
# a run that wrote something is followed by a whole rewrap and a retire);
# check-full each.
ALLOC_STRIDE=3
REWRAP=(mk rewrap --conf "$CONF2")
MK_retired='[{"id":2,"active":true,"items":7,"old_versions":5}]'

# done_counts: what the vault and the files show as sealed again (under
# key 2), as "RECORDS STRINGS FILES" into DONE.
done_counts() {
	local line n=0 m=0 f=0 file
	while IFS= read -r line; do
		case $line in
		item*" mk=2" | old*" mk=2") n=$((n + 1)) ;;
		string*" mk=2") m=$((m + 1)) ;;
		esac
	done <<<"$MKS_NOW"
	for file in "$CONF" "$CONF2"; do
		file_is "$file" rotated
		[ "$IS" != new ] || f=$((f + 1))
	done
	DONE="$n $m $f"
}
# The message's counts ("sealed again so far: N records, M strings in F
# config files", or on success "sealed again under the active master
# key: ...") against what was sealed; a failure that gives none (the
# vault did not open) must have sealed nothing. When the allocation that
# fails is the success message's own, the CLI says "(out of memory for
# the message)": then everything must be sealed again.
SEALED_RE='sealed again (so far|under the active master key): ([0-9]+) records?, ([0-9]+) strings? in ([0-9]+) config files?'
rewrap_as_told() {
	local told
	slurp "$RUN_ERR"
	if [[ $REPLY =~ $SEALED_RE ]]; then
		told="${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]}"
	elif [ "$rc" != 0 ]; then
		told="0 0 0"
	elif [ "$MODE" = alloc ] && [[ $REPLY == "kmc: (out of memory for the message)"$'\n' ]]; then
		told="12 4 2"
	else
		echo "exit 0 without the counts: $REPLY" >&2
		return 1
	fi
	done_counts
	[ "$told" = "$DONE" ] && { [ "$rc" != 0 ] || [ "$DONE" = "12 4 2" ]; } ||
		{ echo "exit $rc; sealed again (records strings files): $DONE; the message: $REPLY" >&2; false; }
}
# kmc mk list agrees with mk_state: keys 1 (old) and 2 (active), the
# records split between them, key 2's counts those mk_state shows.
MKSET_RE='^\[\{"id":1,"active":false,"items":([0-9]+),"old_versions":([0-9]+)\},\{"id":2,"active":true,"items":([0-9]+),"old_versions":([0-9]+)\}\]$'
set_split() {
	local line i2=0 o2=0
	while IFS= read -r line; do
		case $line in
		item*" mk=2") i2=$((i2 + 1)) ;;
		old*" mk=2") o2=$((o2 + 1)) ;;
		esac
	done <<<"$MKS_NOW"
	[[ $MKSET =~ $MKSET_RE ]] &&
		[ "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]}" = \
			"$((7 - i2)) $((5 - o2)) $i2 $o2" ] ||
		{ echo "kmc mk list: $MKSET; mk_state shows $i2 items and $o2 old versions on key 2" >&2; false; }
}
all_on_key2() { # after inspect: no record nor string left on another key
	[[ $MKS_NOW != *" mk=1"* ]] || { echo "$MKS_NOW" >&2; false; }
}
both_new() { # both config files wholly new
	local both
	file_is "$CONF" rotated
	both=$IS
	file_is "$CONF2" rotated
	[ "$both $IS" = "new new" ] || { cat "$CONF" "$CONF2" >&2; false; }
}

# A rewrap leaves the keystores alone: the vault must be healthy as a
# failed or killed one left it, with no kmc repair.
REPAIR=0
as_told() {
	check "$AT: what was sealed again is what the message said" rewrap_as_told
}
after_repair() {
	check "$AT: each config file wholly old or wholly new" conf_whole rotated
	check "$AT: kmc mk list shows keys 1 and 2 with the records mk_state shows" set_split
	# Finishing: rewrap again, nothing left on key 1, retire it, and
	# everything opens without it.
	check "$AT: kmc mk rewrap run again succeeds" run_ok plain "${REWRAP[@]}"
	mk_set
	check "$AT, rewrapped again: kmc mk list shows nothing on key 1" set_is "$MK_rewrapped"
	check "$AT, rewrapped again: kmc mk retire 1 succeeds" run_ok plain mk retire 1 --conf "$CONF2"
	inspect
	check "$AT, key 1 retired: every record and string still opens with its value" opens_all
	check "$AT, key 1 retired: everything is sealed by key 2" all_on_key2
	check "$AT, key 1 retired: both config files wholly new" both_new
}

# The checks can tell a half-new config file, and a message that
# undercounts.
load rewrapped
sed -i "s/^mail_secret = .*/mail_secret = $S1/" "$CONF"
inspect
file_is "$CONF" rotated
check "the checks see a config file with one string of each key as neither old nor new" \
	test "$IS" = mixed
MODE=fail rc=1
printf 'kmc: sealed again so far: 0 records, 0 strings in 0 config files; run kmc mk rewrap again to go on\n' >"$RUN_ERR"
check "the checks see a message that undercounts what was sealed" not rewrap_as_told 2>/dev/null

sweep "mk rewrap" rotated "${REWRAP[@]}"

done_testing
