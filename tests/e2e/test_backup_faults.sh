#!/usr/bin/env bash
# test_backup_faults.sh - kmc backup and kmc restore broken at every step.
# Under the fault shim (tests/faultinject.c) each command is run once to
# count its steps (the file-system calls that create, write, sync or
# rename), then once with each step N failing (KMC_FAULT_AT=N) and once
# killed there (KMC_FAULT_KILL=1).
#
# backup: a failed one leaves no backup folder and no hidden
# .NAME.backup-* beside it; a killed one leaves either no backup folder
# (a hidden .NAME.backup-* may stay: the process died with it, and its
# name marks it incomplete; the next backup removes it when a keystore in
# it proves it this vault's) or a whole one, which restores. The vault is
# never touched. That removal is broken at each of its steps too.
#
# restore: afterwards, and after `kmc repair`, the vault is either the
# old one or the restored one - items and values, protectors - never a
# mix, and healthy, with no stage or commit mark left. A failed restore
# names the fault, and when it says "nothing was changed", so it is.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
B=$T/bk
kmc() { "$KMC" --vault "$V" "$@"; }
look() { "$KMC_LOOK" --vault "$V" "$@"; }

# faulty N KILL CMD...: kmc CMD under the shim, step N failing (0: none;
# KILL=1: killed there); sets rc and steps.
faulty() {
	local n=$1 kill=$2
	shift 2
	rm -f "$COUNT"
	{ ASAN_OPTIONS=$RUN_ASAN_OPTIONS LD_PRELOAD="$SO" KMC_FAULT_AT="$n" \
		KMC_FAULT_KILL="$kill" KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	steps=0
	[ -f "$COUNT" ] && read -r steps <"$COUNT"
	return 0
}
names_fault() {
	grep -Eq "$FAULT_MSG" "$RUN_ERR" && grep -q '^kmc: ' "$RUN_ERR" ||
		{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
}
# The state file beside the host key goes with each state (lib.sh).
save() { rm -rf "$T/saved.$1" && cp -a "$V" "$T/saved.$1" && state_save "$V" "$T/saved.$1.state"; }
load() { rm -rf "$V" && cp -a "$T/saved.$1" "$V" && state_load "$V" "$T/saved.$1.state"; }
for v in one two three; do secret_file "$T/$v" "$v"; done
secret_file "$T/pp" 'a passphrase of some length'

kmc init 2>/dev/null
kmc password set a --password-file "$T/one" 2>/dev/null
kmc password set b --password-file "$T/one" 2>/dev/null
save base

# ---- backup ---------------------------------------------------------------------------

hidden() { find "$T" -maxdepth 1 -name '.bk.backup-*' -printf '%f '; }
clear_target() { rm -rf "$B" "$T"/.bk.backup-*; }
vault_untouched() { snapshot "$V" | diff - "$T/base.snap" >&2; }
restores() { # the backup at $B restores into a new folder, with a = b = one
	local d=$T/check
	rm -rf "$d"
	"$KMC" --vault "$d" restore "$B" >/dev/null 2>"$T/check.err" &&
		[ "$("$KMC_LOOK" --vault "$d" password get a 2>&1)" = one ] &&
		[ "$("$KMC_LOOK" --vault "$d" password get b 2>&1)" = one ] &&
		"$KMC_LOOK" --vault "$d" status >/dev/null 2>&1 ||
		{ echo "the backup does not restore: $(cat "$T/check.err")" >&2; false; }
}
snapshot "$V" >"$T/base.snap"
clear_target
faulty 0 0 backup --out "$B"
check "backup under the shim without a fault succeeds" test "$rc" = 0
check "... and restores" restores
check "the shim counted the steps of backup" test "$steps" -gt 10
total=$steps
echo "# backup: $total steps"
# On a file system that refuses RENAME_NOREPLACE (NFS, a usual place for
# backups; the shim's KMC_FAULT_NO_NOREPLACE), each file takes its name
# by a hard link instead of failing the backup.
clear_target
{ LD_PRELOAD="$SO" KMC_FAULT_NO_NOREPLACE=1 "$KMC" --vault "$V" backup --out "$B" \
	>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
check "backup without RENAME_NOREPLACE succeeds" test $? = 0
check "... and restores" restores
check "... leaving no temporary in it" test -z "$(find "$B" -name '.*.tmp-*')"
clear_target
clear_target
faulty 1 0 backup --out "$B"
check "the shim is active: backup fails when its first step fails" test "$rc" != 0

for ((n = 1; n <= total; n++)); do
	at="backup, step $n of $total failing"
	clear_target
	faulty "$n" 0 backup --out "$B"
	if [ "$rc" != 0 ]; then
		check "$at: exits non-zero without a crash" no_crash
		check "$at: the message names the fault" names_fault
		check "$at: no backup folder" test ! -e "$B"
		check "$at: no hidden folder beside it" test -z "$(hidden)"
	else
		check "$at yet exit 0: the backup restores" restores
	fi
	check "$at: the vault is untouched" vault_untouched
done

none=0 whole=0 left=0
kills_wanted || { skip_kills backup; total_kills=$total; total=0; }
for ((n = 1; n <= total; n++)); do
	at="backup, killed at step $n of $total"
	clear_target
	faulty "$n" 1 backup --out "$B"
	check "$at: the shim killed it" killed
	if [ -e "$B" ]; then
		whole=$((whole + 1))
		check "$at: a backup folder was left: it is whole and restores" restores
		check "$at: ... and no hidden folder beside it" test -z "$(hidden)"
	else
		none=$((none + 1))
		[ -z "$(hidden)" ] || left=$((left + 1))
		# Killed just now, the folder looks like an older kmc's backup
		# under way and is spared for 10 minutes: set it back as if
		# they had passed.
		[ -z "$(hidden)" ] || find "$T"/.bk.backup-* -exec touch -h -d '1 hour ago' {} +
		check "$at: no backup folder: a backup run again succeeds" \
			bash -c '"$1" --vault "$2" backup --out "$3" 2>/dev/null' _ "$KMC" "$V" "$B"
		check "$at: ... and restores" restores
		check "$at: ... and removed what the kill left, when a keystore proves it this vault's" \
			test -z "$(find "$T" -mindepth 2 -maxdepth 2 -path "$T/.bk.backup-*" \
			\( -name kmc.ks -o -name StandbyKsf.ks \) -print)"
	fi
	check "$at: the vault is untouched" vault_untouched
	check "$at: kmc status: healthy" look status
done
echo "# backup, killed at each step: no backup $none times (a hidden .bk.backup-* left $left times), a whole one $whole times"
total=${total_kills:-$total}
backup_total=$total

# ---- what killed backups left, removed under faults ------------------------------------
# Once a backup is made it removes the folders killed backups of this
# vault left beside it (vault/backupleft.c). Each step of that removal
# failing or killed leaves the backup made and whole, the leftover either
# gone or still holding the keystore that proves it (so the next backup
# removes it), and another vault's folder so named untouched.
LEFT=$T/.bk.backup-0123456789ab
OTHER=$T/.ot.backup-0123456789ab
clear_target
kmc backup --out "$T/left-src" 2>/dev/null
"$KMC" --vault "$T/ov" init 2>/dev/null
"$KMC" --vault "$T/ov" backup --out "$T/other-src" 2>/dev/null
# Killed long ago: a folder written to within 10 minutes is spared as
# maybe an older kmc's backup under way, so the leftover is set back.
age_left() { find "$LEFT" -exec touch -h -d '1 hour ago' {} +; }
plant() { clear_target && rm -rf "$OTHER" && cp -a "$T/left-src" "$LEFT" && age_left &&
	cp -a "$T/other-src" "$OTHER"; }
plant
faulty 0 0 backup --out "$B"
check "a backup beside a leftover under the shim succeeds" test "$rc" = 0
check "... and removes the leftover" test ! -e "$LEFT"
check "... and not another vault's" diff -r "$T/other-src" "$OTHER"
check "the removal adds steps to the backup's" test "$steps" -gt "$backup_total"
left_total=$steps
for mode in fail $(kill_mode); do
	for ((n = backup_total + 1; n <= left_total; n++)); do
		at="backup beside a leftover, step $n of $left_total"
		plant
		if [ "$mode" = fail ]; then
			at+=" failing"
			faulty "$n" 0 backup --out "$B"
			check "$at: exit 0 (the backup is made; the removal is best effort)" test "$rc" = 0
		else
			at+=", killed"
			faulty "$n" 1 backup --out "$B"
			check "$at: the shim killed it" killed
		fi
		check "$at: the backup is whole and restores" restores
		check "$at: the leftover is gone or still holds the keystore that proves it" \
			bash -c '[ ! -e "$1" ] || [ -f "$1/kmc.ks" ]' _ "$LEFT"
		check "$at: another vault's folder is untouched" diff -r "$T/other-src" "$OTHER"
		rm -rf "$B"
		# A removal cut off halfway wrote to the folder (its files
		# unlinked): the next backup spares it for 10 minutes, then
		# removes it; set it back as if they had passed.
		[ ! -e "$LEFT" ] || age_left
		check "$at: the next backup removes what is left" \
			bash -c '"$1" --vault "$2" backup --out "$3" 2>/dev/null && [ ! -e "$4" ]' _ "$KMC" "$V" "$B" "$LEFT"
		check "$at: the vault is untouched" vault_untouched
	done
done
clear_target
rm -rf "$OTHER"

# ---- restore --------------------------------------------------------------------------

clear_target
kmc backup --out "$B" 2>/dev/null
# The old state: a changed, b removed, c new, a second protector.
kmc password set a --password-file "$T/two" 2>/dev/null
kmc rm b 2>/dev/null
kmc password set c --password-file "$T/three" 2>/dev/null
kmc protector add passphrase --passphrase-file "$T/pp" --argon2-ops 1 --argon2-mem 8 2>/dev/null
save old

TMPF=$T/fp.tmp
fingerprint() { # what a user sees: items, values, protectors, keystore generation; into FP
	local n
	FP=$(look list --json 2>&1 | sed 's/"created":[0-9]*,//g')
	for n in a b c; do FP+=$'\n'"$n=$(look password get "$n" 2>&1)"; done
	FP+=$'\n'$(look protector list --json 2>&1)
	FP+=$'\n'$(look status --json 2>&1 | jq -c '{generation, items, healthy}' 2>&1)
}
fingerprint
OLD_FP=$FP
kmc restore "$B" 2>/dev/null
check "restore without the shim succeeds" test $? = 0
fingerprint
NEW_FP=$FP
check "the old and the restored state differ" test "$OLD_FP" != "$NEW_FP"
check "the restored state reads a = one" bash -c '[[ $1 == *$'"'"'\na=one\n'"'"'* ]]' _ "$NEW_FP"
old_or_new() {
	fingerprint
	[ "$FP" = "$OLD_FP" ] || [ "$FP" = "$NEW_FP" ] || {
		echo "neither the old nor the restored state:" >&2
		diff <(echo "$OLD_FP") <(echo "$FP") | head -10 >&2
		false
	}
}
repair() { kmc repair >"$TMPF" 2>&1 </dev/null || { echo "kmc repair: exit $?: $(cat "$TMPF")" >&2; false; }; }
no_stage() {
	local left
	left=$(find "$V" -maxdepth 1 \( -name '.kmc-restore*' -o -name '.*.tmp-*' \) -printf '%f ')
	[ -z "$left" ] || { echo "left behind: $left" >&2; false; }
}
says_nothing_changed() { grep -q 'nothing was changed' "$RUN_ERR"; }

load old
faulty 0 0 restore "$B"
check "restore under the shim without a fault succeeds" test "$rc" = 0
fingerprint
check "... giving the restored state" test "$FP" = "$NEW_FP"
check "the shim counted the steps of restore" test "$steps" -gt 10
total=$steps
plain_total=$total
echo "# restore: $total steps"

for mode in fail $(kill_mode); do
	olds=0 news=0
	for ((n = 1; n <= total; n++)); do
		at="restore, step $n of $total failing"
		[ "$mode" = fail ] || at="restore, killed at step $n of $total"
		load old
		if [ "$mode" = fail ]; then
			faulty "$n" 0 restore "$B"
			if [ "$rc" != 0 ]; then
				check "$at: exits non-zero without a crash" no_crash
				check "$at: the message names the fault" names_fault
			fi
		else
			faulty "$n" 1 restore "$B"
			check "$at: the shim killed it" killed
		fi
		check "$at: kmc repair then succeeds" repair
		check "$at: after repair, the old state or the restored one, never a mix" old_or_new
		if [ "$FP" = "$OLD_FP" ]; then olds=$((olds + 1)); else news=$((news + 1)); fi
		if [ "$mode" = fail ] && [ "$rc" != 0 ] && says_nothing_changed; then
			check "$at: the message says nothing was changed, and so it is" test "$FP" = "$OLD_FP"
		fi
		if [ "$mode" = fail ] && [ "$rc" != 0 ] && [ "$FP" = "$NEW_FP" ]; then
			check "$at, yet it went through: the message says so and names kmc repair" \
				grep -q 'committed but not finished.*kmc repair' "$RUN_ERR"
		fi
		if [ "$mode" = fail ] && [ "$rc" = 0 ]; then
			check "$at yet exit 0: the restored state" test "$FP" = "$NEW_FP"
		fi
		check "$at: no stage, mark or temporary file is left" no_stage
	done
	echo "# restore, $([ $mode = fail ] && echo 'each step failing' || echo 'killed at each step'):" \
		"then the old state $olds times, the restored one $news"
done

# A restore killed after its commit point: read-only opens refuse until
# kmc repair finishes it; kmc status reports the pending change.
load old
mark_steps=0
for ((n = total; n >= 1; n--)); do
	load old
	faulty "$n" 1 restore "$B"
	[ -e "$V/.kmc-restore" ] && { mark_steps=$n; break; }
done
check "some kill leaves the commit mark behind" test "$mark_steps" -gt 0
t_err 6 "with the mark, a read-only open refuses and names kmc repair" 'restore was cut off.*kmc repair' \
	kmc password get a
t_rc 4 "with the mark, kmc status says the vault needs repair" kmc status
t "kmc repair finishes the restore" kmc repair
t_out "... and a reads the restored value" 'one' kmc password get a
t "... and kmc status is healthy" kmc status

# ---- restore with a trust sync file ----------------------------------------------------
# The open that finishes a restore writes the file kmc trust sync keeps
# (outside the vault) again before the mark goes: killed anywhere, the
# file after kmc repair holds what the vault's store holds, old or
# restored. A failure while writing it leaves the restore made and says
# so, naming the file that still holds the old store.
SRV=$T/srv
mkdir -m 700 "$SRV"
load base
for c in ca1 ca2; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$c.key" \
		-out "$T/$c.crt" -subj "/CN=$c" -days 30 2>/dev/null
done
kmc trust add one "$T/ca1.crt" 2>/dev/null
kmc trust sync --file "$SRV/ca.pem" default 2>/dev/null
clear_target
kmc backup --out "$B" 2>/dev/null
kmc trust add two "$T/ca2.crt" 2>/dev/null
save trust
cp -p "$SRV/ca.pem" "$T/ca.pem.trust"
load_trust() { load trust && cp -p "$T/ca.pem.trust" "$SRV/ca.pem"; }
file_is_store() {
	look trust export --out - 2>/dev/null | cmp -s - "$SRV/ca.pem" ||
		{ echo "the CA file is not the store:" >&2; diff <(look trust export --out - 2>&1) "$SRV/ca.pem" | head -5 >&2; false; }
}
says_file_stale() { grep -q 'restored, but a trust sync file still holds' "$RUN_ERR"; }
stale_as_said() {
	file_is_store 2>/dev/null && return 0
	! look trust list 2>/dev/null | grep -q ' two ' && grep -q '^# two$' "$SRV/ca.pem" ||
		{ echo "message: $(cat "$RUN_ERR")" >&2; look trust list >&2; grep '^#' "$SRV/ca.pem" >&2; false; }
}
load_trust
faulty 0 0 restore "$B"
check "restore with a trust sync file under the shim succeeds" test "$rc" = 0
check "... and writes the file again" file_is_store
check "... which lost the CA trusted after the backup" bash -c '! grep -q "^# two$" "$1"' _ "$SRV/ca.pem"
total=$steps
# The steps before the commit point are the plain restore's, swept above:
# from a little before where that one ended; kills at every other step.
first=$((plain_total > 10 ? plain_total - 10 : 1))
echo "# restore with a trust sync file: $total steps, swept from step $first"
for mode in fail $(kill_mode); do
	stale=0
	for ((n = first; n <= total; n++)); do
		[ "$mode" = fail ] || [ $((n % 2)) = 0 ] || [ "$n" = "$total" ] || continue
		at="restore with a trust sync file, step $n of $total failing"
		[ "$mode" = fail ] || at="restore with a trust sync file, killed at step $n of $total"
		load_trust
		faulty "$n" "$([ "$mode" = fail ] && echo 0 || echo 1)" restore "$B"
		[ "$mode" = fail ] || check "$at: the shim killed it" killed
		[ "$mode" = fail ] && [ "$rc" != 0 ] && check "$at: no crash" no_crash
		check "$at: kmc repair then succeeds" repair
		if [ "$mode" = fail ] && [ "$rc" != 0 ] && says_file_stale; then
			stale=$((stale + 1))
			check "$at: said the file is stale: the vault is restored, the file the old store (or, the change journaled, the store's after kmc repair)" \
				stale_as_said
		else
			check "$at: after repair, the CA file holds what the store holds" file_is_store
		fi
		check "$at: no stage, mark or temporary file is left" no_stage
	done
	echo "# restore with a trust sync file, $mode: the failure named the stale file $stale times"
done

done_testing
