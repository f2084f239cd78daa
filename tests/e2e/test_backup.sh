#!/usr/bin/env bash
# test_backup.sh - kmc backup and kmc restore. A backup is a new private
# folder of 0600 files with a manifest; it never overwrites. A restore
# brings back the values of the backup and a healthy vault, also into a
# vault whose store is damaged or that is gone; it refuses another
# vault's backup and a damaged or incomplete one without changing
# anything. Backups taken while readers loop and a writer writes cost the
# readers nothing, and each one restores to a whole, healthy vault.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
for v in one two three; do secret_file "$T/$v" "$v"; done
secret_file "$T/pp" 'a passphrase of some length'

kmc init 2>/dev/null
kmc password set a --password-file "$T/one" 2>/dev/null
kmc password set b --password-file "$T/one" 2>/dev/null
id=$(kmc status --json 2>/dev/null | jq -r .vault_id)

# ---- backup -------------------------------------------------------------------------

B=$T/b1
t_err 0 "kmc backup writes a backup and names the vault id" "backed up vault $id" kmc backup --out "$B"
check "the backup folder is 0700" test "$(stat -c %a "$B")" = 700
check "it holds kmc.ks, StandbyKsf.ks, items.mdb and backup.manifest, nothing else" \
	test "$(cd "$B" && ls -A | sort | tr '\n' ' ')" = "StandbyKsf.ks backup.manifest items.mdb kmc.ks "
check "every file in it is 0600" bash -c '! find "$1" -type f ! -perm 600 | grep .' _ "$B"
check "the manifest names the format, the vault id, the generation and the items" \
	bash -c 'sed -n 1,5p "$1/backup.manifest" | tr "\n" " " | grep -qx "kmcvault-backup 1 vault_id $2 generation 1 store_generation [0-9]* items 2 "' _ "$B" "$id"
check "the keystores in it are the vault's" cmp "$B/kmc.ks" "$V/kmc.ks"
check "no hidden build folder is left beside it" bash -c '! ls -A "$1" | grep -q "^\.b1\.backup-"' _ "$T"

t_err 8 "a backup never goes into a folder that holds something" 'is not empty; a backup never overwrites' \
	kmc backup --out "$B"
: >"$T/afile"
t_err 8 "... nor over a file" 'not an empty folder' kmc backup --out "$T/afile"
check "... which is left as it was" test ! -s "$T/afile"
mkdir -m 700 "$T/empty"
t "an existing empty folder takes a backup" kmc backup --out "$T/empty"
check "... which is whole" test -f "$T/empty/backup.manifest"
t_err 7 "a backup into a folder whose parent is missing fails" 'parent folder' kmc backup --out "$T/no/such"
t_err 2 "kmc backup without --out is a usage error" 'usage: kmc backup --out DIR' kmc backup

# ---- what killed backups left ---------------------------------------------------------

# A killed backup leaves its hidden build folder, a ciphertext copy of the
# vault. The next backup into the same parent folder removes each one it
# can prove is this vault's (only a backup's files, a keystore naming this
# vault), and leaves and counts anything else so named.
L=$T/left
mkdir -m 700 "$L"
OV=$T/other-vault
"$KMC" --vault "$OV" init 2>/dev/null
"$KMC" --vault "$OV" backup --out "$L/o0" 2>/dev/null
kmc backup --out "$L/b0" 2>/dev/null
cp -a "$L/b0" "$L/.b1.backup-0123456789ab"	# whole, before its rename
cp -a "$L/b0" "$L/.b0.backup-aaaaaaaaaaaa"
rm "$L/.b0.backup-aaaaaaaaaaaa/items.mdb" "$L/.b0.backup-aaaaaaaaaaaa/backup.manifest"
cp "$L/b0/items.mdb" "$L/.b0.backup-aaaaaaaaaaaa/.items.mdb.tmp-0a0b0c0d0e0f"	# killed mid-copy
# Killed long ago: a folder written to lately may be an older kmc's
# backup under way (below), so these are set an hour back.
age() { find "$@" -exec touch -h -d '1 hour ago' {} +; }
age "$L/.b1.backup-0123456789ab" "$L/.b0.backup-aaaaaaaaaaaa"
cp -a "$L/o0" "$L/.o0.backup-bbbbbbbbbbbb"	# another vault's
mkdir -m 700 "$L/.e.backup-cccccccccccc"	# empty: no proof whose
cp -a "$L/b0" "$L/.x.backup-dddddddddddd" && echo mine >"$L/.x.backup-dddddddddddd/notes"
cp -a "$L/b0" "$L/keep" && ln -s keep "$L/.l.backup-eeeeeeeeeeee"	# a link
cp -a "$L/b0" "$L/.b2.backup-ffffffffffff" && chmod 755 "$L/.b2.backup-ffffffffffff"
cp -a "$L/b0" "$L/.b3.backup-0123456789AB"	# not its name: upper-case hex
# Whole and this vault's, but locked: a backup of another copy of this
# vault (a restore elsewhere) still building it beside this one.
cp -a "$L/b0" "$L/.b5.backup-aaaaaaaaaaab"
exec {building}<"$L/.b5.backup-aaaaaaaaaaab"
flock -x -n "$building"
before_others=$(cd "$L" && find .o0.backup-* .e.backup-* .x.backup-* .l.backup-* keep .b2.backup-* .b3.backup-* \
	-printf '%p %y %m\n' | sort && find .o0.backup-* .x.backup-* keep .b2.backup-* .b3.backup-* -type f -print0 |
	sort -z | xargs -0 sha256sum)
t_err 0 "a backup removes the folders killed backups of this vault left, and says so" \
	'removed 2 hidden folder\(s\) \(\.NAME\.backup-\*\) that killed backups of this vault left beside' \
	kmc backup --out "$L/b3" --json
cp "$OUT" "$T/left.json"
check "... the whole one and the one killed mid-copy are gone" \
	test ! -e "$L/.b1.backup-0123456789ab" -a ! -e "$L/.b0.backup-aaaaaaaaaaaa"
check "... it names the others it left as they are" \
	grep -q '6 hidden folder(s) named as a killed backup.s .* are not provably this vault.s and were left as they are' "$LAST_ERR"
check "... --json counts both" jq -e '.leftovers_removed == 2 and .leftovers_kept == 6' "$T/left.json"
check "... and one a backup is still building (locked) is left whole" \
	test -f "$L/.b5.backup-aaaaaaaaaaab/items.mdb" -a -f "$L/.b5.backup-aaaaaaaaaaab/kmc.ks"
exec {building}<&-
rm -r "$L/.b5.backup-aaaaaaaaaaab"
check "... and every other folder, file and link is as it was" \
	test "$(cd "$L" && find .o0.backup-* .e.backup-* .x.backup-* .l.backup-* keep .b2.backup-* .b3.backup-* \
	-printf '%p %y %m\n' | sort && find .o0.backup-* .x.backup-* keep .b2.backup-* .b3.backup-* -type f -print0 |
	sort -z | xargs -0 sha256sum)" = "$before_others"
check "... and the new backup is whole" test -f "$L/b3/backup.manifest"
t_err 0 "the next backup finds none of its own left" 'left as they are' kmc backup --out "$L/b4"
check "... and says nothing of removing" bash -c '! grep -q "^kmc: removed" "$1"' _ "$LAST_ERR"

# An older kmc does not lock the folder it builds: one of this vault
# written to within the last 10 minutes (the folder, or any file in it)
# may be its backup of another copy of this vault, still under way, and
# is left, counted apart; once it has stayed still, it goes.
rm -r "$L/b3" "$L/b4"
cp -a "$L/b0" "$L/.b6.backup-0000000000aa"	# written just now
cp -a "$L/b0" "$L/.b7.backup-0000000000bb" && age "$L/.b7.backup-0000000000bb" &&
	touch "$L/.b7.backup-0000000000bb/items.mdb"	# a file written just now
t_err 0 "a backup leaves the folders of this vault written to lately, and says why" \
	'^kmc: 2 hidden folder\(s\) of backups of this vault \(\.NAME\.backup-\*\) beside .* were written to within the last 10 minutes, as by a backup still under way' \
	kmc backup --out "$L/b3" --json
cp "$OUT" "$T/busy.json"
check "... both whole" test -f "$L/.b6.backup-0000000000aa/items.mdb" -a -f "$L/.b7.backup-0000000000bb/items.mdb"
check "... --json: kept 7, of them 2 busy, none removed" \
	jq -e '.leftovers_removed == 0 and .leftovers_kept == 7 and .leftovers_busy == 2' "$T/busy.json"
check "... the others still counted apart, as before" \
	grep -q '^kmc: 5 hidden folder(s) named as a killed backup.s .* are not provably this vault.s' "$LAST_ERR"
age "$L/.b6.backup-0000000000aa" "$L/.b7.backup-0000000000bb"
t_err 0 "still for 10 minutes: the next backup removes them" \
	'removed 2 hidden folder\(s\)' kmc backup --out "$L/b4"
check "... gone" test ! -e "$L/.b6.backup-0000000000aa" -a ! -e "$L/.b7.backup-0000000000bb"

# A backup made under such a name would be taken for a killed one and
# removed by the next backup beside it: such a name is refused.
N=$T/named
mkdir -m 700 "$N"
t_err 2 "a backup named as a killed backup's folder is refused, naming why" \
	'a backup cannot be named as a killed backup.s hidden folder' kmc backup --out "$N/.keep.backup-0123456789ab"
check "... and nothing is made" test -z "$(ls -A "$N")"
t "a backup with a name of its own is made" kmc backup --out "$N/.keep.backup-0123456789AB"
t "... and the next backup beside it" kmc backup --out "$N/b"
check "... leaves it whole" test -f "$N/.keep.backup-0123456789AB/backup.manifest"
# A name the file system takes, too long for the hidden folder built
# beside it (.NAME.backup- and 12 hex digits, 21 bytes more): refused
# saying so, not a bare "too large".
LONG=$(printf 'b%.0s' $(seq 240))
t_err 2 "a backup name too long for its hidden build folder is refused, saying why" \
	"$LONG: the name is 240 bytes; a backup's may have at most 234" \
	kmc backup --out "$N/$LONG"
check "... and nothing is made" test ! -e "$N/$LONG" -a -z "$(find "$N" -maxdepth 1 -name "*$LONG*")"

# The sweep of another copy of this vault (a restore elsewhere), backing up
# into the same parent, locks each such folder for a moment while it looks
# at it, a new one just made too: the backup waits for that lock rather
# than fail. The shim stops the backup just after it made its folder; the
# lock is taken then, held until the backup waits on it, and let go.
W=$T/wait
mkdir -m 700 "$W"
LD_PRELOAD=$KMC_BUILD/tests/faultinject.so KMC_FAULT_OPS=mkdirat KMC_FAULT_AT=1 KMC_FAULT_STOP=1 \
	"$KMC_BUILD/kmc" --vault "$V" backup --out "$W/b" >/dev/null 2>"$T/wait.err" &
pid=$!
state_of() { sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null; }
for _ in $(seq 600); do [ "$(state_of "$pid")" = T ] && break; sleep 0.05; done
lock_while_it_waits() {
	local d fd
	d=$(ls -d "$W"/.b.backup-* 2>/dev/null) && [ -d "$d" ] || return 1
	exec {fd}<"$d"
	flock -x -n "$fd" || return 1
	kill -CONT "$pid"
	for _ in $(seq 600); do
		grep -Eq -- "-> FLOCK +ADVISORY +WRITE +$pid " /proc/locks && break
		[ "$(state_of "$pid")" = Z ] && break	# it did not wait
		sleep 0.05
	done
	exec {fd}<&-
}
check "a backup stopped after making its folder, which another takes the lock of" lock_while_it_waits
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "... waits for the lock and is made (exit 0)" test "$rc" = 0
check "... whole" test -f "$W/b/backup.manifest"
check "... and says so" grep -q "^kmc: backed up vault $id " "$T/wait.err"

# ---- round trip -----------------------------------------------------------------------

kmc password set a --password-file "$T/two" 2>/dev/null
kmc rm b 2>/dev/null
kmc password set c --password-file "$T/three" 2>/dev/null
kmc protector add passphrase --passphrase-file "$T/pp" --argon2-ops 1 --argon2-mem 8 2>/dev/null
gen=$(kmc status --json 2>/dev/null | jq -r .generation)
check "the vault moved on: keystore generation 2" test "$gen" = 2
t_err 0 "kmc restore says which generation it restores over which" \
	"restored generation 1 over generation 2 in $V" kmc restore "$B"
check "... and nothing of CAs: the vault holds none" test -z "$(grep CAs "$LAST_ERR")"
t_out "a has its old value again" 'one' kmc password get a
t_out "b, removed since, is back" 'one' kmc password get b
t_err 7 "c, made after the backup, is gone" 'no item c' kmc password get c
t "kmc status: healthy" kmc status
kmc protector list --json >"$T/prot.json" 2>/dev/null
check "the protector added since is gone with the keystore" jq -e 'length == 1' "$T/prot.json"
check "the restore left no stage or mark" bash -c '! ls -A "$1" | grep -q "^\.kmc-restore"' _ "$V"
t "a later write works" kmc password set c --password-file "$T/three"
t_out "... and reads back" 'three' kmc password get c

# ---- refusals that change nothing ---------------------------------------------------

OTHER=$T/other
"$KMC" --vault "$OTHER" init 2>/dev/null
oid=$("$KMC" --vault "$OTHER" status --json 2>/dev/null | jq -r .vault_id)
"$KMC" --vault "$OTHER" backup --out "$T/other-bk" 2>/dev/null
snapshot "$V" >"$T/before"
same() { snapshot "$V" | diff - "$T/before" >&2; }
t_err 4 "a backup of another vault is refused, naming both vault ids" \
	"is a backup of vault $oid, but $V holds vault $id" kmc restore "$T/other-bk"
check "... and nothing changed" same
# Another vault's keystores copied over this one's, its item store left:
# the folder is this vault's, but those keystores may still open the
# other vault's kmc: strings. Refused, saying to move them out; then the
# restore goes through.
KC=$T/kc
"$KMC" --vault "$KC" init 2>/dev/null
"$KMC" --vault "$KC" password set k --password-file "$T/one" 2>/dev/null
"$KMC" --vault "$KC" backup --out "$T/kc-bk" 2>/dev/null
kid=$("$KMC" --vault "$KC" status --json 2>/dev/null | jq -r .vault_id)
cp -p "$OTHER/kmc.ks" "$OTHER/StandbyKsf.ks" "$KC/"
snapshot "$KC" >"$T/kc-before"
kc_same() { snapshot "$KC" | diff - "$T/kc-before" >&2; }
t_err 4 "another vault's keystores over this one's items.mdb: refused, saying to move them out" \
	"$KC/items.mdb is of vault $kid, as the backup .*kc-bk is, but the keystores in $KC are another vault's: .*move kmc.ks and StandbyKsf.ks out of $KC" \
	"$KMC" --vault "$KC" restore "$T/kc-bk"
check "... and nothing changed" kc_same
cp -p "$V/StandbyKsf.ks" "$KC/StandbyKsf.ks"
t_err 4 "... the same with the twins of two other vaults" "move kmc.ks and StandbyKsf.ks out of $KC" \
	"$KMC" --vault "$KC" restore "$T/kc-bk"
t_err 4 "... where an open says to move both out and restore" "move both out of $KC .*kmc restore" \
	"$KMC" --vault "$KC" status
mkdir -m 700 "$T/kc-aside" && mv "$KC/kmc.ks" "$KC/StandbyKsf.ks" "$T/kc-aside/"
t "... moved out, the restore goes through" "$KMC" --vault "$KC" restore "$T/kc-bk"
t_out "... and k reads back" 'one' "$KMC" --vault "$KC" password get k
for f in kmc.ks StandbyKsf.ks items.mdb backup.manifest; do
	rm -rf "$T/bad" && cp -a "$B" "$T/bad"
	size=$(stat -c %s "$T/bad/$f")
	off=$((size / 2))
	printf "$(printf '\\%03o' $(( ($(od -An -tu1 -j "$off" -N1 "$T/bad/$f") ^ 1) )))" |
		dd of="$T/bad/$f" bs=1 seek="$off" conv=notrunc status=none
	check "the flipped byte changed $f" bash -c '! cmp -s "$1" "$2"' _ "$B/$f" "$T/bad/$f"
	t_err 4 "a backup with one byte of $f flipped is refused, naming it" "bad/$f" kmc restore "$T/bad"
	check "... and the vault is as it was" same
	rm -rf "$T/bad" && cp -a "$B" "$T/bad" && rm "$T/bad/$f"
	t_err 4 "a backup without $f is refused, naming it" "bad/$f is missing" kmc restore "$T/bad"
	check "... and the vault is as it was" same
done
check "no stage was left by the refusals" bash -c '! ls -A "$1" | grep -q "^\.kmc-restore"' _ "$V"
# A store cut short behind a manifest that agrees with it (damaged before
# the backup was hashed, or the manifest rewritten): LMDB would read the
# missing pages through its map and die of SIGBUS. The meta pages are
# checked first, as for a vault's own store.
remanifest() { # remanifest DIR FILE: the manifest of DIR made to agree with DIR/FILE
	local d=$1 f=$2 h
	h=$(b2sum -l 256 "$d/$f" | cut -d' ' -f1)
	sed -i "s/^file $f .*/file $f $(stat -c %s "$d/$f") $h/; /^checksum /d" "$d/backup.manifest"
	echo "checksum $(b2sum -l 256 "$d/backup.manifest" | cut -d' ' -f1)" >>"$d/backup.manifest"
}
rm -rf "$T/bad" && cp -a "$B" "$T/bad" && truncate -s 8192 "$T/bad/items.mdb" && remanifest "$T/bad" items.mdb
check "the backup's store is longer than its two meta pages" test "$(stat -c %s "$B/items.mdb")" -gt 8192
t_err 4 "a backup whose items.mdb is shorter than its meta pages say is refused, naming it, not a signal" \
	'bad/items.mdb is truncated: 8192 bytes, the store needs' kmc restore "$T/bad"
# The damaged file is the backup's own: restoring it from a backup is no
# advice for it.
check "... saying the backup is damaged, not to restore the file from a backup" \
	bash -c 'grep -q "the backup is damaged" "$1" && ! grep -q "restore it from a backup" "$1"' _ "$LAST_ERR"
check "... and the vault is as it was" same
check "... with no stage left" bash -c '! ls -A "$1" | grep -q "^\.kmc-restore"' _ "$V"
rm -rf "$T/bad" && cp -a "$B" "$T/bad" && cp "$T/other-bk/items.mdb" "$T/bad/items.mdb"
t_err 4 "another vault's store in a backup is refused" 'items.mdb does not match' kmc restore "$T/bad"
t_err 7 "a backup folder that does not exist is refused" 'no-such' kmc restore "$T/no-such"
check "... and the vault is as it was" same
chmod 775 "$T/bad"
t_err 5 "a backup folder others can write is refused for its mode" 'chmod 700' kmc restore "$T/bad"

# ---- restoring what does not open -----------------------------------------------------

kmc password set a --password-file "$T/two" 2>/dev/null
truncate -s 4096 "$V/items.mdb"
t_rc 4 "with items.mdb truncated, the vault does not open" kmc password get a
t_err 0 "restore into the vault with the truncated store works" 'restored generation 1 over generation 1' \
	kmc restore "$B"
t_out "a reads the backup's value" 'one' kmc password get a
t "kmc status: healthy" kmc status

printf 'garbage' >"$V/kmc.ks"
printf 'garbage' >"$V/StandbyKsf.ks"
t_err 0 "restore into a vault with both keystores damaged works (its id is unknown)" \
	'which held no readable keystore' kmc restore "$B"
t_out "... and a reads back" 'one' kmc password get a

rm -rf "$T/gone"
t "restore into a vault folder that is gone creates it" "$KMC" --vault "$T/gone" restore "$B"
check "... 0700" test "$(stat -c %a "$T/gone")" = 700
t_out "... with the items" 'one' "$KMC" --vault "$T/gone" password get b
# The vault path is walked as every command walks it: a link on it in a
# folder others can write (they could repoint it) is refused before
# anything behind it is touched (a left-over stage is not cleared), for a
# vault behind it and for one restore would make there; the message is
# about the link, not about the backup.
mkdir -m 700 "$T/real" && mkdir -m 777 "$T/ww" && ln -s "$T/real" "$T/ww/link"
t_err 5 "restore through a link in a folder others can write is refused, naming the link" \
	'into .*/ww/link/rv: directory .*/ww holding the link .*/ww/link .*has mode 0777 and no sticky bit' \
	"$KMC" --vault "$T/ww/link/rv" restore "$B"
check "... and makes no vault behind it" test ! -e "$T/real/rv"
t "a restore by the real path makes that vault" "$KMC" --vault "$T/real/rv" restore "$B"
mkdir -m 700 "$T/real/rv/.kmc-restore.d" && cp -p "$B/kmc.ks" "$T/real/rv/.kmc-restore.d/"
snapshot "$T/real/rv" >"$T/rv-before"
t_err 5 "... which restore through the link others can repoint refuses too" \
	'into .*/ww/link/rv: directory .*/ww holding the link' "$KMC" --vault "$T/ww/link/rv" restore "$B"
rv_same() { snapshot "$T/real/rv" | diff - "$T/rv-before" >&2; }
check "... leaving it as it was" rv_same
mkdir -m 700 "$T/safe" && ln -s ../real "$T/safe/link"
t "a link in a folder only root and the user write still works" \
	"$KMC" --vault "$T/safe/link/rv" restore "$B"

# Folder names are the user's: a newline or ESC in one is printed escaped,
# so it can neither forge a "kmc:" line nor drive the terminal.
ODD=$'\n''kmc: forged'$'\e''[2J'
# one_escaped_line FILE: FILE is one line, with no raw ESC, that shows
# the name as \nkmc: forged\x1b[2J.
one_escaped_line() {
	[ "$(wc -l <"$1")" = 1 ] && ! grep -q $'\e' "$1" &&
		grep -qF '\nkmc: forged\x1b[2J' "$1" || { cat -A "$1" >&2; false; }
}
t "a backup into a folder named with a newline and ESC" kmc backup --out "$T/odd$ODD"
check "... says where on one line, the name escaped" one_escaped_line "$LAST_ERR"
t "a restore into a vault folder named so (gone: it is created)" \
	"$KMC" --vault "$T/gone$ODD" restore "$T/odd$ODD"
check "... says where on one line, the name escaped" one_escaped_line "$LAST_ERR"
t_out "... and the vault there reads back" 'one' "$KMC" --vault "$T/gone$ODD" password get b

mkdir -m 700 "$T/stuff" && : >"$T/stuff/notes.txt"
t_err 7 "a folder that holds other files and no vault is refused" 'holds files but no vault' \
	"$KMC" --vault "$T/stuff" restore "$B"
check "... and left alone" test "$(ls -A "$T/stuff")" = notes.txt
# With no keystore to read, items.mdb says whose folder it is.
mkdir -m 700 "$T/foreign" && cp -p "$OTHER/items.mdb" "$T/foreign/"
snapshot "$T/foreign" >"$T/foreign-before"
t_err 4 "a folder that holds only another vault's items.mdb is refused, naming the folder" \
	"$T/foreign holds no readable keystore and the item store items.mdb of another vault than the backup's \\($id\\)" \
	"$KMC" --vault "$T/foreign" restore "$B"
foreign_same() { snapshot "$T/foreign" | diff - "$T/foreign-before" >&2; }
check "... and left as it was" foreign_same
mkdir -m 700 "$T/own" && cp -p "$V/items.mdb" "$T/own/"
t "a folder that holds only this vault's items.mdb is restored into" "$KMC" --vault "$T/own" restore "$B"
t_out "... and opens with the backup's items" 'one' "$KMC" --vault "$T/own" password get b
mkdir -m 700 "$T/dmg" && secret_file "$T/dmg/items.mdb" garbage
t "a folder that holds only an items.mdb too damaged to say whose is restored into" \
	"$KMC" --vault "$T/dmg" restore "$B"

# A passphrase-only vault: without its passphrase, restore checks the
# hashes and says that the MACs were not checked; with it, it checks them.
PV=$T/pv
"$KMC" --vault "$PV" init --protector passphrase --passphrase-file "$T/pp" \
	--argon2-ops 1 --argon2-mem 8 2>/dev/null
"$KMC" --vault "$PV" password set x --password-file "$T/one" --passphrase-file "$T/pp" 2>/dev/null
t "a passphrase vault backs up with its passphrase" \
	"$KMC" --vault "$PV" backup --out "$T/pv-bk" --passphrase-file "$T/pp"
t_rc 3 "... and not without it" "$KMC" --vault "$PV" backup --out "$T/pv-bk2"
check "... leaving no backup" test ! -e "$T/pv-bk2"
t_err 0 "restore without the passphrase goes on, saying the MACs were not checked" \
	'its MACs were not' "$KMC" --vault "$PV" restore "$T/pv-bk"
check "... and that the vault is not bound yet, naming kmc repair --accept-rollback" \
	grep -q 'not bound yet: .*kmc repair --accept-rollback' "$LAST_ERR"
t_err 0 "restore with it checks them (no such note)" '^kmc: restored generation 1 over generation 1' \
	"$KMC" --vault "$PV" restore "$T/pv-bk" --passphrase-file "$T/pp"
check "... and says nothing about unchecked MACs" bash -c '! grep -q "not checked\|were not" "$1"' _ "$LAST_ERR"

# ---- trust sync files across a restore ------------------------------------------------

# A file kmc trust sync keeps (a server's CA file) lies outside the vault:
# after a restore it must hold what the restored store holds, or a server
# goes on trusting a CA the vault no longer lists.
SV=$T/sv
"$KMC" --vault "$SV" init 2>/dev/null
for c in ca1 ca2; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$c.key" \
		-out "$T/$c.crt" -subj "/CN=$c" -days 30 2>/dev/null
done
mkdir -m 700 "$T/srv"
"$KMC" --vault "$SV" trust add one "$T/ca1.crt" 2>/dev/null
t "a trust store kept in a server's CA file" "$KMC" --vault "$SV" trust sync --file "$T/srv/ca.pem" default
"$KMC" --vault "$SV" backup --out "$T/sv-bk" 2>/dev/null
"$KMC" --vault "$SV" trust add two "$T/ca2.crt" 2>/dev/null
check "a CA trusted after the backup is in the CA file" grep -q '^# two$' "$T/srv/ca.pem"
t_err 0 "a restore writes the CA file again and says so" \
	'1 trust sync file\(s\) written again .*reload the servers' "$KMC" --vault "$SV" restore "$T/sv-bk"
check "... which no longer holds the CA the restored store does not list" \
	bash -c '! grep -q "^# two$" "$1" && grep -q "^# one$" "$1"' _ "$T/srv/ca.pem"
check "... and is what kmc trust export prints of the store" \
	bash -c 'cmp "$2" <("$1" --vault "$3" trust export --out - 2>/dev/null)' _ "$KMC" "$T/srv/ca.pem" "$SV"
"$KMC" --vault "$SV" restore "$T/sv-bk" --json >"$T/sv.json" 2>"$T/sv.err"
check "a second restore finds the file right: nothing written, no such note" \
	bash -c 'jq -e ".trust_files == 0" "$1" >/dev/null && ! grep -q "trust sync" "$2"' _ "$T/sv.json" "$T/sv.err"
t "kmc verify after it" "$KMC" --vault "$SV" verify
# A restore into a folder that held no vault (a copy to look at) changes
# no file outside it: the live vault's CA file stays as that vault has it.
"$KMC" --vault "$SV" trust add two "$T/ca2.crt" 2>/dev/null
cp -p "$T/srv/ca.pem" "$T/srv-ca.before"
t_err 0 "a restore into a new folder leaves the CA file, saying so" \
	'1 trust sync file\(s\) the restored trust stores keep hold other certificates and were left as they are: .*sv-copy held no vault' \
	"$KMC" --vault "$T/sv-copy" restore "$T/sv-bk"
check "... and the CA file is as the live vault has it" cmp "$T/srv-ca.before" "$T/srv/ca.pem"
"$KMC" --vault "$T/sv-copy2" restore "$T/sv-bk" --json >"$T/svc.json" 2>/dev/null
check "... --json counts it in trust_files_left, trust_files 0" \
	jq -e '.trust_files_left == 1 and .trust_files == 0' "$T/svc.json"
t "kmc audit verify after it" "$KMC" --vault "$SV" audit verify
"$KMC" --vault "$SV" trust add two "$T/ca2.crt" 2>/dev/null
mv "$T/srv/ca.pem" "$T/srv/real.pem" && ln -s real.pem "$T/srv/ca.pem"
t_err 5 "a CA file turned into a link: the restore says it is made but the file was not written" \
	"restored, but a trust sync file still holds the trust store as it was before the restore: .*srv/ca.pem is a symbolic link" \
	"$KMC" --vault "$SV" restore "$T/sv-bk"
check "... and the link's target is left alone" grep -q '^# two$' "$T/srv/real.pem"
t "... the vault is restored and healthy" "$KMC" --vault "$SV" status
# A restore killed after its commit mark is finished by kmc repair, which
# writes the trust sync files then: one it cannot write fails the repair
# with the restore's own message (exit 5), not only in the audit log; one
# it writes is said. (The shim's runs are of the binary itself, also under
# memcheck: they only set the scene.)
rm "$T/srv/ca.pem" && mv "$T/srv/real.pem" "$T/srv/ca.pem"
SO=$KMC_BUILD/tests/faultinject.so
mark_step() { # the shim's step that renames the restore's commit mark in place
	LD_PRELOAD=$SO KMC_FAULT_TRACE=1 "$KMC_BUILD/kmc" --vault "$SV" restore "$T/sv-bk" 2>&1 |
		sed -n 's/^faultinject: #\([0-9]*\) renameat \.kmc-restore$/\1/p'
}
"$KMC" --vault "$SV" trust add two "$T/ca2.crt" 2>/dev/null
M=$(mark_step)
check "the shim finds the step that puts the restore's mark in place" test -n "$M"
killed_restore() {
	"$KMC" --vault "$SV" trust add two "$T/ca2.crt" 2>/dev/null
	{ LD_PRELOAD=$SO KMC_FAULT_AT=$((M + 1)) KMC_FAULT_KILL=1 \
		"$KMC_BUILD/kmc" --vault "$SV" restore "$T/sv-bk" >/dev/null 2>&1; } 2>/dev/null
	test -e "$SV/.kmc-restore"
}
check "a restore killed just after its commit mark leaves the mark" killed_restore
t_err 0 "kmc repair finishes it and says the CA file was written again" \
	'finished a restore that was cut off in .*: 1 trust sync file\(s\) written again .*reload the servers' \
	"$KMC" --vault "$SV" repair
check "... which no longer holds the CA the restored store does not list" \
	bash -c '! grep -q "^# two$" "$1" && grep -q "^# one$" "$1"' _ "$T/srv/ca.pem"
check "a restore killed again just after its commit mark" killed_restore
mv "$T/srv/ca.pem" "$T/srv/real.pem" && ln -s real.pem "$T/srv/ca.pem"
t_err 5 "kmc repair finishing it cannot write the CA file (a link): it says so and fails" \
	"finishing a restore that was cut off: .*restored, but a trust sync file still holds the trust store as it was before the restore: .*srv/ca.pem is a symbolic link" \
	"$KMC" --vault "$SV" repair
check "... the link's target is left alone" grep -q '^# two$' "$T/srv/real.pem"
check "... and the restore is finished: no mark left" test ! -e "$SV/.kmc-restore"
t "... the vault is restored and healthy" "$KMC" --vault "$SV" status
# Any writable open finishes such a restore; the command says the same
# and goes on (its own work is made).
rm "$T/srv/ca.pem" && mv "$T/srv/real.pem" "$T/srv/ca.pem"
check "a restore killed again just after its commit mark" killed_restore
mv "$T/srv/ca.pem" "$T/srv/real.pem" && ln -s real.pem "$T/srv/ca.pem"
t_err 0 "password set, the writer that finishes it, says the CA file was not written" \
	"finishing a restore that was cut off: .*srv/ca.pem is a symbolic link" \
	"$KMC" --vault "$SV" password set late --password-file "$T/one"
check "... and the restore is finished: no mark left" test ! -e "$SV/.kmc-restore"

# ---- backups while servers read and a writer writes -----------------------------------

# Races are for the plain and ASan builds: under memcheck (make
# check-valgrind) each kmc takes a second and more, and the paths above
# have already run under it. make check-full runs this part there too.
if [ -n "${KMC_VALGRIND:-}" ] && [ -z "${KMC_VALGRIND_FULL:-}" ]; then
	echo "ok - backups beside readers and a writer # SKIP under memcheck in CI (make check-full runs it)"
	done_testing
	exit $?
fi

READER=$T/conc_reader
check "the conc_reader helper builds" kmc_cc "$READER" "$KMC_TOP/tests/e2e/conc_reader.c"
KP='server-key-password'
secret_file "$T/kp" "$KP"
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki" "$KP"
CV=$T/cv
"$KMC" --vault "$CV" init 2>/dev/null
secret_file "$T/v-0" 'v-0'
"$KMC" --vault "$CV" password set P --password-file "$T/v-0" 2>/dev/null
"$KMC" --vault "$CV" import --name srv -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.key" --password-file "$T/kp" 2>/dev/null
STOP=$T/stop
# Under memcheck (check-full) each kmc takes a second or more: fewer
# rounds keep the readers inside the time their alarm allows. Under ASan
# (make check-sanitize) fewer too: the readers spin on every CPU for as
# long as the rounds last, and the race itself is make check's to run
# at length, as test_concurrency's are.
NB=10 NW=30
[ -z "${KMC_SANITIZED:-}" ] || { NB=4 NW=12; }
[ -z "${KMC_VALGRIND:-}" ] || { NB=3 NW=8; }
RPIDS=()
for r in 1 2 3; do
	"$READER" run "$CV" P srv 0 100 100000 "$STOP" "$T/pki/server.crt" \
		>"$T/reader$r.out" 2>"$T/reader$r.err" &
	RPIDS+=("$!")
done
trap 'touch "$STOP"; kill "${RPIDS[@]}" 2>/dev/null; rm -rf "$T"' EXIT
writer() { # Q = w-1 .. w-30, each set a transaction the backups must not split
	local k
	for k in $(seq 1 "$NW"); do
		secret_file "$T/w" "w-$k"
		"$KMC" --vault "$CV" password set Q --password-file "$T/w" 2>/dev/null ||
			{ echo "set w-$k failed"; return 1; }
	done
}
writer >"$T/writer.out" 2>&1 &
WPID=$!
fails=0
for k in $(seq 1 "$NB"); do
	"$KMC" --vault "$CV" backup --out "$T/cb$k" 2>>"$T/cb.err" || fails=$((fails + 1))
done
wait "$WPID"
wrc=$?
touch "$STOP"
check "$NB backups taken while three readers and a writer ran all succeeded" test "$fails" = 0
check "the writer's $NW sets all succeeded" test "$wrc" = 0
for r in 1 2 3; do
	wait "${RPIDS[$((r - 1))]}"
	rrc=$?
	check "reader $r: every open, get and key load succeeded (0 errors)" test "$rrc" = 0
	[ "$rrc" = 0 ] || { echo "#   reader exit $rrc"; sed 's/^/#   reader: /' "$T/reader$r.err" | head -5; }
	echo "# reader $r: $(tail -n1 "$T/reader$r.out")"
done
restored_whole() { # restored_whole K: backup K restores to a healthy vault whose Q matches its store generation
	local d=$T/rcv$1 q
	"$KMC" --vault "$d" restore "$T/cb$1" 2>/dev/null &&
		"$KMC" --vault "$d" status >/dev/null 2>&1 &&
		"$KMC" --vault "$d" cert info srv >/dev/null 2>&1 || return 1
	q=$("$KMC" --vault "$d" password get Q 2>/dev/null)
	[[ -z $q || $q =~ ^w-([1-9]|[12][0-9]|30)$ ]] || { echo "Q is '$q'" >&2; return 1; }
}
for k in $(seq 1 "$NB"); do
	check "backup $k restores to a whole, healthy vault with srv and a value of Q the writer wrote" \
		restored_whole "$k"
done
t_out "the vault read by all of them ends with Q = w-$NW" "w-$NW" "$KMC" --vault "$CV" password get Q
t "... and is healthy" "$KMC" --vault "$CV" status

done_testing
