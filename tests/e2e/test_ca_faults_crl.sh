#!/usr/bin/env bash
# test_ca_faults_crl.sh - kmc ca crl, after a revocation: each step
# failing, killed at each step, allocations failing (ca_faults.sh). The
# CA then has given its first CRL number and the file holds it, or
# neither. Then another process making the file at each step, or while
# the change waits for kmc repair after a kill: never written over.
. "$(dirname "${BASH_SOURCE[0]}")/ca_faults.sh"

t "ca revoke root app (for the state below)" look ca revoke root app
save revoked
MIX='rm -f "$OUTCRL"'
sweep "ca crl root" revoked ca crl root --out "$OUTCRL"

# ---- a file made at FILE while kmc writes the CRL is never written over --------
# Another process makes root.crl at each step in turn (the shim's
# KMC_FAULT_MAKE). Made before the step that puts the CRL in place, it
# stays as it was and kmc ca crl exits 8 naming it, the vault healthy,
# nothing staged left (the check before staging catches it early; the
# rename, which never replaces, catches it late); made after, the CRL
# was there first and kmc succeeded. make check tries one step in
# FAIL_STRIDE (3) and the four around the rename; check-full each.
CMD=(ca crl root --out "$OUTCRL")
load revoked
{ LD_PRELOAD="$SO" KMC_FAULT_TRACE=1 "$KMC" --vault "$V" "${CMD[@]}" \
	>/dev/null 2>"$T/trace" </dev/null; } 2>/dev/null
placed=$(sed -n 's/^faultinject: #\([0-9]*\) renameat root\.crl$/\1/p' "$T/trace")
total=$(grep -c '^faultinject: #' "$T/trace")
check "the shim's trace shows the step that puts root.crl in place" \
	bash -c '[ -n "$1" ] && [ "$2" -gt "$1" ]' _ "$placed" "$total"
OTHERS='made by another process'
# left_alone: exit 8 naming the file, the other's bytes in it, the vault
# healthy with nothing pending, nothing staged.
left_alone() {
	local st
	[ "$rc" = 8 ] && grep -q "$OUTCRL" "$RUN_ERR" ||
		{ echo "exit $rc: $(cat "$RUN_ERR")" >&2; return 1; }
	[ "$(cat "$OUTCRL")" = "$OTHERS" ] ||
		{ echo "root.crl was written over: $(head -c 100 "$OUTCRL")" >&2; return 1; }
	st=$(look status --json 2>&1)
	[[ $st == *'"healthy":true,'* && $st == *'"pending_change":false'* ]] ||
		{ echo "kmc status: $st" >&2; return 1; }
	no_staged_files
}
crl_kept() {
	[ "$rc" = 0 ] && openssl crl -in "$OUTCRL" -noout -CAfile "$V/keys/db/ca.crt" 2>&1 | grep -q 'verify OK' ||
		{ echo "exit $rc: $(cat "$RUN_ERR"); root.crl: $(head -c 100 "$OUTCRL")" >&2; false; }
}
for ((n = 1; n <= total; n++)); do
	[ $((n % FAIL_STRIDE)) = 1 ] || [ "$FAIL_STRIDE" = 1 ] ||
		{ [ $((n - placed)) -ge -2 ] && [ $((n - placed)) -le 1 ]; } || continue
	load revoked
	{ ASAN_OPTIONS=${RUN_ASAN_OPTIONS:-} LD_PRELOAD="$SO" KMC_FAULT_AT=$n \
		KMC_FAULT_MAKE="$OUTCRL" "$KMC" --vault "$V" "${CMD[@]}" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	if [ "$n" -le "$placed" ]; then
		check "root.crl made at step $n of $total: left alone, refused" left_alone
	else
		check "root.crl made at step $n of $total (after the CRL's): the CRL" crl_kept
	fi
done
# Killed at that rename (committed, the CRL staged), the file made before
# the next open: kmc repair finishes the change and leaves the file be.
if kills_wanted; then
	load revoked
	faulty "$placed" 1
	check "killed at the step that puts root.crl in place" killed
	echo "$OTHERS" >"$OUTCRL"
	check "kmc repair then goes through" repair
	check "... and leaves the file made meanwhile as it was" \
		test "$(cat "$OUTCRL")" = "$OTHERS"
	check "... the vault healthy, nothing pending or staged" \
		bash -c '[[ $("$1" --vault "$2" status --json) == *"\"healthy\":true,"*"\"pending_change\":false"* ]]' _ "$KMC_LOOK" "$V"
	check "... nothing staged left" no_staged_files
	# Killed there again, FILE's folder (a script's temporary folder,
	# say) then removed with the staged CRL in it: kmc repair finishes
	# the change with nothing to put in place, rather than fail on the
	# folder, as every writable open did, until it was made again.
	mkdir "$T/gone"
	CMD=(ca crl root --out "$T/gone/root.crl")
	load revoked
	faulty "$placed" 1
	check "killed at the step that puts gone/root.crl in place" killed
	rm -rf "$T/gone"
	check "its folder removed, kmc repair goes through" repair
	check "... the vault healthy, nothing pending" \
		bash -c '[[ $("$1" --vault "$2" status --json) == *"\"healthy\":true,"*"\"pending_change\":false"* ]]' _ "$KMC_LOOK" "$V"
	check "... and the next ca crl signs one" look ca crl root --out "$OUTCRL"
else
	skip_kills "ca crl with root.crl made meanwhile"
fi

# ---- other kmcs' staged CRLs beside FILE are never touched ------------------------
# Another vault's kmc ca crl writing the same FILE at the same time
# stages beside it too (no lock is shared between vaults). The staged
# name was fixed (.root.crl.kmc-new): this one was refused while the
# other's was there, and a kill left a journal whose recovery (kmc
# repair, the next writable open) removed whatever was at that name by
# then, the other's staged CRL among them, which then committed its CRL
# number with no file written. Each change now stages under a name of
# its own (.root.crl.TAG.kmc-new, the tag in its journal): ca crl goes
# through beside the others' staged files, and its recovery removes its
# own only. Theirs: an older kmc's fixed name and another's tagged one.
OTHER_FIXED=$T/.root.crl.kmc-new
OTHER_TAGGED=$T/.root.crl.0123456789abcdef.kmc-new
others_there() {
	[ "$(cat "$OTHER_FIXED")" = "$OTHERS" ] && [ "$(cat "$OTHER_TAGGED")" = "$OTHERS" ] ||
		{ echo "another's staged CRL was touched: $(ls -a "$T")" >&2; false; }
}
CMD=(ca crl root --out "$OUTCRL")
load revoked
printf '%s\n' "$OTHERS" >"$OTHER_FIXED"
printf '%s\n' "$OTHERS" >"$OTHER_TAGGED"
look ca crl root --out "$OUTCRL" >"$RUN_OUT" 2>"$RUN_ERR"
rc=$?
check "others' staged CRLs beside FILE: ca crl writes FILE all the same" crl_kept
check "... and leaves theirs as they were" others_there
staged_at=$(sed -n 's/^faultinject: #\([0-9]*\) openat \.root\.crl\.[0-9a-f]\{16\}\.kmc-new$/\1/p' "$T/trace")
check "the shim's trace shows the CRL staged under a name of its own" test -n "$staged_at"
if kills_wanted && [ -n "$staged_at" ]; then
	load revoked
	faulty "$((staged_at + 1))" 1
	check "killed with its CRL staged (before the commit)" killed
	check "... its staged CRL is there, beside the others'" \
		bash -c 'ls -a "$1" | grep -Eq "^\.root\.crl\.[0-9a-f]{16}\.kmc-new$" && ls -a "$1" |
			grep -Ec "^\.root\.crl\.([0-9a-f]{16}\.)?kmc-new$" | grep -qx 3' _ "$T"
	check "kmc repair then goes through" repair
	check "... removing its own staged CRL and no other's" \
		bash -c 'ls -a "$1" | grep -Ec "^\.root\.crl\.([0-9a-f]{16}\.)?kmc-new$" | grep -qx 2' _ "$T"
	check "... theirs as they were" others_there
	check "... no FILE, nothing pending" \
		bash -c '[ ! -e "$1" ] && [[ $("$2" --vault "$3" status --json) == *"\"pending_change\":false"* ]]' \
		_ "$OUTCRL" "$KMC_LOOK" "$V"
else
	skip_kills "ca crl killed with its CRL staged beside others'"
fi
rm -f "$OTHER_FIXED" "$OTHER_TAGGED" "$OUTCRL"

# ---- FILE's folder failing its sync once the CRL is staged --------------------------
# The staged file is opened, written, synced, then its folder synced: a
# failure there said only "Input/output error", naming neither FILE nor
# its folder.
dirsync=$([ -n "$staged_at" ] && sed -n "s/^faultinject: #$((staged_at + 3)) \(fsync\) *$/\1/p" "$T/trace")
check "the shim's trace shows the folder's sync after the staged CRL" test "$dirsync" = fsync
load revoked
{ LD_PRELOAD="$SO" KMC_FAULT_AT=$((staged_at + 3)) "$KMC" --vault "$V" "${CMD[@]}" \
	>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
rc=$?
check "its sync failing: refused (exit 6), naming FILE's folder" \
	bash -c '[ "$1" = 6 ] && grep -q "syncing the folder $2: Input/output error" "$3"' \
	_ "$rc" "$T" "$RUN_ERR"
check "... nothing pending, no FILE" \
	bash -c '[ ! -e "$1" ] && [[ $("$2" --vault "$3" status --json) == *"\"pending_change\":false"* ]]' \
	_ "$OUTCRL" "$KMC_LOOK" "$V"
rm -f "$OUTCRL"

# ---- a file system that refuses RENAME_NOREPLACE (NFS) ---------------------------
# The shim's KMC_FAULT_NO_NOREPLACE makes renameat2 with the flag fail
# with EINVAL, as NFS does: the last step then links the staged CRL to
# FILE (refused as atomically for a name there) and drops the staged
# name, rather than fail, leaving a change that every writable open then
# failed to finish.
nfs() { LD_PRELOAD="$SO" KMC_FAULT_NO_NOREPLACE=1 "$@"; }
CMD=(ca crl root --out "$OUTCRL")
load revoked
{ nfs "$KMC" --vault "$V" "${CMD[@]}" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
rc=$?
check "without RENAME_NOREPLACE, ca crl puts the CRL in place" crl_kept
check "... nothing pending or staged" \
	bash -c '[[ $("$1" --vault "$2" status --json) == *"\"healthy\":true,"*"\"pending_change\":false"* ]]' _ "$KMC_LOOK" "$V"
check "... nothing staged left" no_staged_files
load revoked
{ nfs env KMC_FAULT_TRACE=1 "$KMC" --vault "$V" "${CMD[@]}" >/dev/null 2>"$T/trace" </dev/null; } 2>/dev/null
linked=$(sed -n 's/^faultinject: #\([0-9]*\) linkat root\.crl$/\1/p' "$T/trace")
check "the shim's trace shows the link that puts root.crl in place" test -n "$linked"
load revoked
{ nfs env KMC_FAULT_AT="$linked" KMC_FAULT_MAKE="$OUTCRL" "$KMC" --vault "$V" "${CMD[@]}" \
	>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
rc=$?
check "root.crl made just before that link: left alone, refused" left_alone
if kills_wanted; then
	load revoked
	{ nfs env KMC_FAULT_AT="$linked" KMC_FAULT_KILL=1 "$KMC" --vault "$V" "${CMD[@]}" \
		>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
	rc=$?
	check "killed at that link" killed
	check "kmc repair, without RENAME_NOREPLACE too, goes through" \
		nfs "$KMC" --vault "$V" repair
	rc=0
	check "... and puts the CRL in place" crl_kept
	check "... nothing staged left" no_staged_files
else
	skip_kills "ca crl without RENAME_NOREPLACE"
fi

done_testing
