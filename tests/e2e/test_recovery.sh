#!/usr/bin/env bash
# test_recovery.sh - the keystore pair and the item store under damage:
# a missing, damaged, stale or forged keystore, both damaged, a wrong
# passphrase, and records moved between names or vaults.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
PW=$T/pw.old
secret_file "$PW" 'hunter2'
PWN=$T/pw.new
secret_file "$PWN" 'n3w passw0rd'
LAST=$T/last.out
LASTERR=$T/last.err
keep() { cp "$OUT" "$LAST"; cp "$ERR" "$LASTERR"; }
bytes_are() { printf '%s' "$2" | cmp -s - "$1"; }
get_is() { # get_is NAME TEXT: password NAME reads back as exactly TEXT
	kmc password get "$1" >"$T/got" 2>/dev/null && bytes_are "$T/got" "$2"
}
twins_same() { cmp -s "$V/kmc.ks" "$V/StandbyKsf.ks"; }
healthy() { kmc status >/dev/null 2>&1; }
fresh() { # a new host vault holding db = hunter2
	rm -rf "$V"
	"$KMC" --vault "$V" init 2>/dev/null &&
		kmc password set db --password-file "$PW" 2>/dev/null
}
# flip FILE OFFSET: invert every bit of one byte in place.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
size() { stat -c %s "$1"; }
hex2bin() { printf '%b' "$(sed 's/../\\x&/g')"; }

# ---- a deleted keystore ---------------------------------------------------------

fresh
rm "$V/kmc.ks"
t_rc 4 "status exits 4 when kmc.ks was deleted" kmc status
keep
check "status reports kmc.ks missing" grep -Eq '^kmc\.ks +missing' "$LAST"
check "status says the vault needs repair" grep -q "needs repair" "$LASTERR"
kmc status --json >"$T/st.json" 2>/dev/null
check "status --json: kmc.ks missing, not healthy" \
	jq -e '.keystores["kmc.ks"].state == "missing" and .healthy == false' "$T/st.json"
t_out "password get still works from StandbyKsf.ks" 'hunter2' kmc password get db
check "a reading command does not write kmc.ks" test ! -e "$V/kmc.ks"
t_err 0 "password set rewrites kmc.ks and says so" "repaired kmc\.ks" \
	kmc password set db --password-file "$PWN"
check "kmc.ks and StandbyKsf.ks are byte-identical again" twins_same
check "the rewritten kmc.ks is 0600" test "$(stat -c %a "$V/kmc.ks")" = 600
t "status exits 0 after the repair" kmc status
check "the new password was stored" get_is db 'n3w passw0rd'

fresh
rm "$V/StandbyKsf.ks"
t_rc 4 "status exits 4 when StandbyKsf.ks was deleted" kmc status
t_out "password get still works from kmc.ks" 'hunter2' kmc password get db
t "rm (a write) rewrites StandbyKsf.ks" kmc rm db
check "the twins are byte-identical again" twins_same
t "status exits 0 after that repair" kmc status

fresh
rm "$V/kmc.ks" "$V/StandbyKsf.ks"
t_err 4 "both keystores deleted: status exits 4 naming both" "kmc\.ks.*StandbyKsf\.ks.*missing" \
	kmc status
t_err 4 "both keystores deleted: password get exits 4" "kmc\.ks.*StandbyKsf\.ks" \
	kmc password get db

# ---- one damaged byte in one keystore ------------------------------------------------

for f in kmc.ks StandbyKsf.ks; do
	fresh
	n=$(size "$V/$f")
	for off in 0 $((n / 2)) $((n - 1)); do
		fresh
		flip "$V/$f" "$off"
		t_rc 4 "$f byte $off damaged: status exits 4" kmc status
		keep
		check "$f byte $off damaged: status reports it damaged" \
			grep -Eq "^${f//./\\.} +damaged" "$LAST"
		check "$f byte $off damaged: status reports the twin ok" \
			grep -Eq "^(kmc|StandbyKsf)\.ks +ok" "$LAST"
		t_out "$f byte $off damaged: the vault still opens" 'hunter2' \
			kmc password get db
		t_err 0 "$f byte $off damaged: a write repairs it" "repaired ${f//./\\.}" \
			kmc password set db --password-file "$PWN"
		check "$f byte $off damaged: the twins are byte-identical after it" twins_same
		check "$f byte $off damaged: status exits 0 after it" healthy
		check "$f byte $off damaged: the write itself took effect" get_is db 'n3w passw0rd'
	done
done

# ---- both damaged -----------------------------------------------------------------------

fresh
flip "$V/kmc.ks" 100
flip "$V/StandbyKsf.ks" 200
before=$(snapshot "$V")
t_err 4 "both damaged: status exits 4 naming both files" \
	"kmc\.ks is damaged and StandbyKsf\.ks is damaged" kmc status
t_err 4 "both damaged: password get exits 4 naming both files" \
	"kmc\.ks.*StandbyKsf\.ks" kmc password get db
t_err 4 "both damaged: password set exits 4 naming both files" \
	"kmc\.ks.*StandbyKsf\.ks" kmc password set db --password-file "$PWN"
t_err 4 "both damaged: list exits 4 naming both files" "kmc\.ks.*StandbyKsf\.ks" kmc list
t_err 4 "both damaged: encrypt exits 4 naming both files" "kmc\.ks.*StandbyKsf\.ks" \
	kmc encrypt x
check "both damaged: nothing was written" test "$before" = "$(snapshot "$V")"

fresh
n=$(size "$V/kmc.ks")
flip "$V/kmc.ks" $((n - 1))
flip "$V/StandbyKsf.ks" $((n - 1))
t_err 4 "both with a damaged last byte: status exits 4 naming both" \
	"kmc\.ks.*StandbyKsf\.ks" kmc status
: >"$V/kmc.ks"
head -c 40 /dev/urandom >"$V/StandbyKsf.ks"
t_err 4 "one empty and one garbage keystore: exit 4, no crash" "kmc\.ks.*StandbyKsf\.ks" \
	kmc password get db

# ---- a wrong passphrase --------------------------------------------------------------------

P=$T/pvault
PP=$T/pp.good
secret_file "$PP" 'the right passphrase'
BAD=$T/pp.bad
secret_file "$BAD" 'the wrong passphrase'
"$KMC" --vault "$P" init --protector passphrase --passphrase-file "$PP" \
	--argon2-ops 1 --argon2-mem 8 2>/dev/null
"$KMC" --vault "$P" password set db --password-file "$PW" --passphrase-file "$PP" 2>/dev/null
before=$(snapshot "$P")
t_err 3 "a wrong passphrase: password get exits 3 saying so" "wrong passphrase" \
	"$KMC" --vault "$P" password get db --passphrase-file "$BAD"
t_err 3 "a wrong passphrase: password set exits 3 saying so" "wrong passphrase" \
	"$KMC" --vault "$P" password set db --password-file "$PWN" --passphrase-file "$BAD"
t_err 3 "a wrong passphrase: rm exits 3" "wrong passphrase" \
	"$KMC" --vault "$P" rm db --passphrase-file "$BAD"
check "a wrong passphrase changed nothing" test "$before" = "$(snapshot "$P")"
rm "$P/StandbyKsf.ks"
before=$(snapshot "$P")
t_err 3 "a wrong passphrase on a vault that needs repair: exit 3" "wrong passphrase" \
	"$KMC" --vault "$P" password set db --password-file "$PWN" --passphrase-file "$BAD"
check "... and no repair was written without the right passphrase" \
	test "$before" = "$(snapshot "$P")"
t "the right passphrase then repairs it" \
	"$KMC" --vault "$P" password set db --password-file "$PWN" --passphrase-file "$PP"
check "... and the twins are identical" cmp -s "$P/kmc.ks" "$P/StandbyKsf.ks"

# ---- records moved between names and vaults ---------------------------------------------

hexname() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# record_of DIR NAME: the hex of NAME's record in the vault DIR.
record_of() {
	mdb_dump -n -s items "$1/items.mdb" |
		awk -v k=" $(hexname "$2")" 'found { print substr($0, 2); exit } $0 == k { found = 1 }'
}
# put_record DIR NAME HEX: store HEX as the record of NAME, behind kmc.
put_record() {
	{
		mdb_dump -n -s items "$1/items.mdb" | sed '/^HEADER=END$/q'
		printf ' %s\n %s\nDATA=END\n' "$(hexname "$2")" "$3"
	} | mdb_load -n -s items "$1/items.mdb" 2>/dev/null
}

fresh
kmc password set other --password-file "$PWN" 2>/dev/null
rec_db=$(record_of "$V" db)
check "mdb_dump finds the record of db" test -n "$rec_db"
check "the record holds no plaintext" bash -c '! printf %s "$1" | grep -qi "$(printf hunter2 | od -An -tx1 | tr -d " \n")"' _ "$rec_db"
put_record "$V" other "$rec_db"
check "the record of db now sits under the name other" test "$(record_of "$V" other)" = "$rec_db"
check "the store file is still 0600" test "$(stat -c %a "$V/items.mdb")" = 600
t_err 4 "a record moved under another name is refused (exit 4) naming it" \
	"item other fails authentication" kmc password get other
t_out "the record under its own name still opens" 'hunter2' kmc password get db
t "a refused record can be replaced by a new password" \
	kmc password set other --password-file "$PWN"
check "... which then reads back" get_is other 'n3w passw0rd'

V2=$T/vault2
"$KMC" --vault "$V2" init 2>/dev/null
"$KMC" --vault "$V2" password set db --password-file "$PWN" 2>/dev/null
put_record "$V" db "$(record_of "$V2" db)"
t_err 4 "a record copied from another vault is refused (exit 4) naming it" \
	"item db fails authentication" kmc password get db
put_record "$V" copied "$(record_of "$V2" db)"
t_err 4 "... also under a name this vault never had" "item copied" \
	kmc password get copied

fresh
rec=$(record_of "$V" db)
c=${rec:60:2}
[ "$c" = 00 ] && c=01 || c=00
put_record "$V" db "${rec:0:60}$c${rec:62}"
t_err 4 "a record with one altered ciphertext byte is refused (exit 4)" \
	"item db fails authentication" kmc password get db
put_record "$V" db "${rec:0:8}00000009${rec:16}"
t_err 4 "a record whose version field was changed is refused (exit 4)" "item db" \
	kmc password get db
put_record "$V" db "${rec:0:10}"
t_err 4 "a truncated record is refused (exit 4)" "item db" kmc password get db

fresh
cp "$V2/items.mdb" "$V/items.mdb"
t_err 4 "an item store from another vault is refused (exit 4)" \
	"items\.mdb belongs to another vault" kmc password get db
t_err 4 "status also refuses it (exit 4)" "another vault" kmc status

# ---- a stale twin -------------------------------------------------------------------------
# Item changes do not touch the keystore, so a copy of kmc.ks made before
# one is still a good twin.

fresh
cp "$V/kmc.ks" "$T/before-item.ks"
kmc password set db --password-file "$PWN" 2>/dev/null
kmc rm db 2>/dev/null
cp "$T/before-item.ks" "$V/StandbyKsf.ks"
t "a keystore copy from before an item change is still a good twin" kmc status

# A real keystore change raises its generation; the kmc command makes none
# yet, so ks_bump (built here from tests/e2e/ks_bump.c) writes one with the
# vault's root key, as a future keystore change would.
BUMP=$T/ks_bump
check "the ks_bump helper builds" kmc_cc "$BUMP" "$KMC_TOP/tests/e2e/ks_bump.c" -I"$KMC_TOP" \
	-Wno-error
if [ -x "$BUMP" ]; then
	fresh
	cp "$V/kmc.ks" "$T/gen1.ks"
	rm -f "$T/gen2.ks"
	"$BUMP" "$V" "$T/gen2.ks"
	cp "$T/gen2.ks" "$V/kmc.ks"
	cp "$T/gen2.ks" "$V/StandbyKsf.ks"
	kmc status --json >"$T/st.json" 2>/dev/null
	check "after a keystore change both keystores are at generation 2" \
		jq -e '.healthy and .generation == 2' "$T/st.json"

	cp "$T/gen1.ks" "$V/StandbyKsf.ks"
	t_rc 4 "an older StandbyKsf.ks put back: status exits 4" kmc status
	keep
	check "status reports StandbyKsf.ks stale" grep -Eq '^StandbyKsf\.ks +stale' "$LAST"
	kmc status --json >"$T/st.json" 2>/dev/null
	check "status --json: StandbyKsf.ks stale at generation 1, kmc.ks ok at 2" \
		jq -e '.keystores["StandbyKsf.ks"] == {"state":"stale","generation":1} and
			.keystores["kmc.ks"] == {"state":"ok","generation":2} and .generation == 2' \
		"$T/st.json"
	t_out "the vault opens with a stale twin" 'hunter2' kmc password get db
	t_err 0 "a write repairs the stale twin" "repaired StandbyKsf\.ks" \
		kmc password set db --password-file "$PWN"
	check "the repaired twin is the newer keystore" cmp -s "$V/StandbyKsf.ks" "$T/gen2.ks"
	check "kmc.ks was left as it was" cmp -s "$V/kmc.ks" "$T/gen2.ks"
	t "status exits 0 after the repair" kmc status

	cp "$T/gen1.ks" "$V/kmc.ks"
	t_rc 4 "an older kmc.ks put back: status exits 4" kmc status
	keep
	check "status reports kmc.ks stale" grep -Eq '^kmc\.ks +stale' "$LAST"
	t_err 0 "a write rewrites kmc.ks from the newer StandbyKsf.ks" "repaired kmc\.ks" \
		kmc password set db --password-file "$PW"
	check "kmc.ks is the newer keystore again" cmp -s "$V/kmc.ks" "$T/gen2.ks"
	t "status exits 0 after that repair" kmc status
fi

# ---- a forged newer keystore ----------------------------------------------------------------
# A generation raised by hand, with the (unkeyed) checksum fixed up: the
# MAC, keyed with the root key, tells it from a real one.

fresh
cp "$V/kmc.ks" "$T/real.ks"
n=$(size "$V/kmc.ks")
{
	head -c 28 "$T/real.ks"
	printf '\0\0\0\0\0\0\0\11'	# generation 9, big-endian
	tail -c +37 "$T/real.ks" | head -c $((n - 36 - 32))
} >"$T/body"
{
	cat "$T/body"
	b2sum -l 256 "$T/body" | cut -c1-64 | hex2bin
} >"$V/kmc.ks"
check "the forged keystore has the real size" test "$(size "$V/kmc.ks")" = "$n"
t_rc 4 "a forged newer kmc.ks: status exits 4" kmc status
kmc status --json >"$T/st.json" 2>/dev/null
check "its checksum holds, but status checks the MAC with the host key: damaged, not ok" \
	jq -e '.keystores["kmc.ks"].state == "damaged" and
		.keystores["StandbyKsf.ks"] == {"state":"ok","generation":1} and
		.generation == 1' "$T/st.json"
t "a forged newer kmc.ks: the vault still opens" kmc password get db
t_err 0 "a forged newer kmc.ks: a write replaces it with the genuine twin" \
	"repaired kmc\.ks" kmc password set db --password-file "$PWN"
check "kmc.ks is the genuine keystore again" cmp -s "$V/kmc.ks" "$T/real.ks"
t "status exits 0 after that" kmc status

done_testing
