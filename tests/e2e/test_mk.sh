#!/usr/bin/env bash
# test_mk.sh - master-key rotation with the kmc command: mk rotate, list
# (text and JSON), rewrap (records, old versions, the config file an
# import wrote and --conf files, another vault's string left alone and
# reported) and retire; each bad input refused with its documented exit
# code and a message naming the key or file, with nothing changed on
# disk; and two servers (tests/e2e/conc_reader.c) that keep reading
# through one handle opened before the first rotation while the keys are
# rotated, re-sealed and retired twice.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
# jqt FILE FILTER: the JSON in FILE satisfies FILTER.
jqt() { jq -e "$2" "$1" >/dev/null; }
mode() { stat -c %a "$1"; }
LAST=$T/last.out
keep() { cp "$OUT" "$LAST"; }

APP=$T/app.conf		# a config file the vault does not know: --conf
SRVCONF=$T/srv.conf	# the one the import of srv writes
FOREIGN=$T/foreign.conf	# holds another vault's string
# fp: hashes of every file a refused command must leave alone.
fp() { sha256sum "$V/kmc.ks" "$V/StandbyKsf.ks" "$V/items.mdb" "$APP" "$SRVCONF" \
	"$FOREIGN" 2>&1; }
unchanged() { [ "$(fp)" = "$1" ]; }
# mk_of FILE: the master-key id of the (first) kmc: string in FILE.
mk_of() { grep -o 'kmc:v1:[0-9]*:' "$1" | head -n1 | cut -d: -f3; }
# token_of FILE: the first kmc: string in FILE.
token_of() { grep -o 'kmc:v1:[0-9]*:[A-Za-z0-9_-]*' "$1" | head -n1; }

KP='server-key-password'
KPF=$T/kp
secret_file "$KPF" "$KP"
PW=$T/pw
secret_file "$PW" 'db-password-1'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki" "$KP"
import_srv() {
	kmc import --name srv -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
		-k "$T/pki/server.key" --password-file "$KPF" --conf "$SRVCONF" "$@"
}

# ---- a vault with items, a bundle and strings under key 1 ---------------------

t "init" kmc init
t "password set db" kmc password set db --password-file "$PW"
t "import srv, writing srv.conf" import_srv
t "import srv again with --replace: the first one's 5 records become old versions" \
	import_srv --replace
check "srv.conf holds the key's password as a key-1 string" \
	test "$(mk_of "$SRVCONF")" = 1
S1=$(printf 'app-secret' | kmc encrypt 2>/dev/null)
check "encrypt makes a key-1 string" test "${S1#kmc:v1:1:}" != "$S1"
# CRLF lines, 0640 like a file a service reads through its group.
printf '# app.conf\r\nuser = app\r\npassword = %s\r\nport = 5432\r\n' "$S1" >"$APP"
chmod 640 "$APP"
"$KMC" --vault "$T/other" init 2>/dev/null
OTHER_S=$(printf 'theirs' | "$KMC" --vault "$T/other" encrypt 2>/dev/null)
printf 'a = 1\nb = %s\n' "$OTHER_S" >"$FOREIGN"

t "mk list" kmc mk list
keep
check "mk list: a header and one key, 1, active, sealing 6 records and 5 old versions" \
	bash -c 'test "$(wc -l <"$1")" = 2 && grep -Eq "^ID +STATE +CREATED +ITEMS +OLD-VERSIONS$" "$1" &&
		grep -Eq "^1 +active +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +6 +5$" "$1"' _ "$LAST"

t_err 0 "mk rotate says key 2 is active" 'master key 2 .* is now the active one' kmc mk rotate
kmc mk list --json >"$T/l.json" 2>/dev/null
check "mk list --json is a valid JSON array of two keys" jqt "$T/l.json" 'type == "array" and length == 2'
check "mk list --json: key 1 old, 6 records and 5 old versions; key 2 active, none" \
	jqt "$T/l.json" '.[0] == (.[0] | {id, active, created, items, old_versions}) and
		.[0].id == 1 and .[0].active == false and .[0].items == 6 and .[0].old_versions == 5 and
		.[1].id == 2 and .[1].active == true and .[1].items == 0 and .[1].old_versions == 0 and
		(.[1].created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))'
t "password set new (after the rotation)" kmc password set new --password-file "$PW"
kmc list --json >"$T/items.json" 2>/dev/null
check "kmc list: db and srv/key are key 1's, new key 2's" \
	jqt "$T/items.json" '(.[] | select(.name == "db") | .mk_id == 1) and
		(.[] | select(.name == "srv/key") | .mk_id == 1) and (.[] | select(.name == "new") | .mk_id == 2)'
check "a new string is key 2's" \
	bash -c 'printf x | "$1" --vault "$2" encrypt 2>/dev/null | grep -q "^kmc:v1:2:"' _ "$KMC" "$V"
t_out "the key-1 string still opens" 'app-secret' kmc decrypt "$S1"

# ---- refused, with nothing changed ---------------------------------------------

before=$(fp)
t_err 2 "mk retire abc: usage error naming it" 'not abc' kmc mk retire abc
check "... nothing changed" unchanged "$before"
t_err 2 "mk retire 0: usage error (ids start at 1)" 'not 0' kmc mk retire 0
check "... nothing changed" unchanged "$before"
t_err 7 "mk retire 99: not found, naming key 99 and the vault" "has no master key 99" kmc mk retire 99
check "... nothing changed" unchanged "$before"
t_err 10 "mk retire 2: the active key is in use (exit 10)" 'master key 2 is the active one' kmc mk retire 2
check "... nothing changed" unchanged "$before"
t_err 10 "mk retire 1: still used, saying how many and what fixes it" \
	'master key 1 still seals 11 item records \(5 of them old versions\); kmc mk rewrap' kmc mk retire 1
check "... nothing changed" unchanged "$before"
t_err 7 "mk rewrap --conf /nonexistent: not found, naming the file" '/nonexistent' \
	kmc mk rewrap --conf "$APP" --conf /nonexistent
check "... nothing changed, app.conf named first included" unchanged "$before"
cp -p "$APP" "$T/gw.conf"
chmod 660 "$T/gw.conf"
t_err 5 "mk rewrap --conf of a group-writable file: permission, naming it" "$T/gw.conf" \
	kmc mk rewrap --conf "$APP" --conf "$T/gw.conf"
check "... nothing changed" unchanged "$before"
printf 'x = 1\n\0y = 2\n' >"$T/nul.conf"
t_err 2 "mk rewrap --conf of a file with a NUL byte: malformed input, naming it" "$T/nul.conf.*NUL" \
	kmc mk rewrap --conf "$APP" --conf "$T/nul.conf"
check "... nothing changed" unchanged "$before"
t_rc 3 "mk rotate with the host key gone: the vault does not open" \
	env KMC_HOST_KEY="$T/no-such-key" "$KMC" --vault "$V" mk rotate
check "... nothing changed" unchanged "$before"
# A vault folder its owner cannot write: the keystores cannot be
# replaced (root writes anyway, so only as another user).
if [ "$(id -u)" != 0 ]; then
	chmod 500 "$V"
	t_err 5 "mk rotate in a folder that cannot be written: permission, naming kmc.ks" \
		"kmc.ks: Permission denied" kmc mk rotate
	check "... nothing changed" unchanged "$before"
	chmod 700 "$V"
else
	echo "# skipped as root: mk rotate in a vault folder that cannot be written"
fi

# ---- rewrap ----------------------------------------------------------------

app_before=$(sed "s|$S1|TOKEN|" "$APP" | od -c)
foreign_before=$(sha256sum <"$FOREIGN")
t_err 0 "mk rewrap --conf app.conf --conf foreign.conf: exit 0" \
	'sealed again under the active master key: 11 records, 2 strings in 2 config files' \
	kmc mk rewrap --conf "$APP" --conf "$FOREIGN"
cp "$LAST_ERR" "$T/rewrap.err"
check "another vault's string is reported with its file and line" \
	grep -q "left alone: the kmc: string on line 2 of $FOREIGN" "$T/rewrap.err"
check "... and said to be left alone in the summary" grep -q 'some strings were left alone' "$T/rewrap.err"
check "foreign.conf is untouched" test "$(sha256sum <"$FOREIGN")" = "$foreign_before"
check "app.conf's string is key 2's now" test "$(mk_of "$APP")" = 2
t_out "... and opens to the same secret" 'app-secret' kmc decrypt "$(token_of "$APP")"
check "app.conf: every other byte as it was, CRLF included" \
	test "$(sed "s|$(token_of "$APP")|TOKEN|" "$APP" | od -c)" = "$app_before"
check "app.conf keeps mode 0640" test "$(mode "$APP")" = 640
check "srv.conf (the bundle's, not named) is re-sealed under key 2" test "$(mk_of "$SRVCONF")" = 2
t_out "... and opens to srv's password" "$(kmc password get srv 2>/dev/null)" \
	kmc decrypt "$(token_of "$SRVCONF")"
check "no staged file is left beside the config files" \
	bash -c '! compgen -G "$1/.*.kmc-new"' _ "$T"
kmc mk list --json >"$T/l.json" 2>/dev/null
check "mk list --json: key 1 seals nothing; key 2 everything, 5 old versions too" \
	jqt "$T/l.json" '.[0].items == 0 and .[0].old_versions == 0 and .[1].items == 7 and .[1].old_versions == 5'
before=$(fp)
t_err 0 "a second rewrap has nothing to do" \
	'sealed again under the active master key: 0 records, 0 strings in 0 config files' \
	kmc mk rewrap --conf "$APP"
check "... and changed nothing" unchanged "$before"

# ---- retire ------------------------------------------------------------------

printf 'late = %s\n' "$S1" >"$T/late.conf"
t_err 10 "mk retire 1 --conf late.conf (a key-1 string): in use, naming the file and line" \
	"kmc: string in $T/late.conf \(the first on line 1\)" kmc mk retire 1 --conf "$T/late.conf"
check "... nothing changed" unchanged "$before"
t_err 0 "mk retire 1 once nothing uses it" 'master key 1 is gone' kmc mk retire 1 --conf "$APP"
kmc mk list --json >"$T/l.json" 2>/dev/null
check "mk list --json: key 2 alone" jqt "$T/l.json" 'length == 1 and .[0].id == 2 and .[0].active'
kmc status --json >"$T/st.json" 2>/dev/null
check "kmc status: healthy, one master key" \
	jqt "$T/st.json" '.healthy and (.master_keys | length) == 1 and .master_keys[0].id == 2'
check "kmc.ks and StandbyKsf.ks are the same bytes" cmp -s "$V/kmc.ks" "$V/StandbyKsf.ks"
t_err 7 "a string of the retired key no longer opens" 'master key 1' kmc decrypt "$S1"
t_out "db reads" 'db-password-1' kmc password get db
t "the key of srv unwraps" bash -c '"$1" --vault "$2" unwrap srv | openssl pkey -noout' _ "$KMC" "$V"
t_err 7 "mk retire 1 again: not found" 'has no master key 1' kmc mk retire 1
late_before=$(sha256sum <"$T/late.conf")
t_err 0 "mk rewrap --conf of a string of the retired key: left alone, reported with file and line" \
	"left alone: the kmc: string on line 1 of $T/late.conf: it names master key 1, which this vault does not hold" \
	kmc mk rewrap --conf "$T/late.conf"
check "... and the file is untouched" test "$(sha256sum <"$T/late.conf")" = "$late_before"

# ---- servers read through the rotations -------------------------------------

# Two readers (conc_reader run) each keep one handle, opened while key 1
# was the only one, and open a fresh one every round; both read P and
# load the key of srv. Meanwhile: rotate, two writes, rewrap, retire 1,
# rotate, a write, rewrap, retire 2. Every read through either handle
# must succeed with a value written, never an older one after a newer.
READER=$T/conc_reader
check "the conc_reader helper builds" kmc_cc "$READER" "$KMC_TOP/tests/e2e/conc_reader.c"
R=$T/rvault
rk() { "$KMC" --vault "$R" "$@"; }
for k in 0 1 2 3; do secret_file "$T/p$k" "v-$k"; done
rk init 2>/dev/null
t "readers' vault: P = v-0" rk password set P --password-file "$T/p0"
t "... and srv imported" rk import --name srv -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.key" --password-file "$KPF"
STOP=$T/stop
RPIDS=()
for r in 1 2; do
	"$READER" run "$R" P srv 3 20 100000 "$STOP" "$T/pki/server.crt" \
		>"$T/reader$r.out" 2>"$T/reader$r.err" &
	RPIDS+=("$!")
done
# lib.sh's clean-up, the readers killed first if still running.
trap 'kill "${RPIDS[@]}" 2>/dev/null; rm -rf "$T" ${_vgdir:+"$_vgdir"}' EXIT
ready() { grep -qx ready "$T/reader1.out" && grep -qx ready "$T/reader2.out"; }
for ((i = 0; i < 400; i++)); do ready && break; sleep 0.05; done
check "both readers made their first round" ready
writer() {
	rk mk rotate &&
		rk password set P --password-file "$T/p1" &&
		rk password set P --password-file "$T/p2" &&
		rk mk rewrap && rk mk retire 1 &&
		rk mk rotate &&
		rk password set P --password-file "$T/p3" &&
		rk mk rewrap && rk mk retire 2
}
check "rotate, write, rewrap, retire 1, rotate, write, rewrap, retire 2" writer
touch "$STOP"
for r in 1 2; do
	wait "${RPIDS[$((r - 1))]}"
	rrc=$?
	check "reader $r: no error through the kept or the fresh handle" test "$rrc" = 0
	[ "$rrc" = 0 ] || sed 's/^/#   reader: /' "$T/reader$r.err" | head -5
	check "reader $r read v-0 first and v-3 last" \
		grep -Eq '^rounds [0-9]+ values [0-9]+ first 0 last 3$' "$T/reader$r.out"
	echo "# reader $r: $(tail -n1 "$T/reader$r.out")"
done
rk mk list --json >"$T/r.json" 2>/dev/null
check "the readers' vault ends with key 3 alone, sealing all 6 records" \
	jqt "$T/r.json" 'length == 1 and .[0].id == 3 and .[0].items == 6'


# ---- a rewrap that would grow a config file past its limit -----------------

# A string's key id grows from 1 to 10 digits' worth: each key-1 string
# is one byte longer sealed under key 10. A file one byte short of the
# 1 MiB a config file may have, holding two, would end one byte over.
W=$T/wvault
wk() { "$KMC" --vault "$W" "$@"; }
wk init 2>/dev/null
WS=$(printf 'w' | wk encrypt 2>/dev/null)
for i in 2 3 4 5 6 7 8 9 10; do wk mk rotate >/dev/null 2>&1; done
check "key 10 is the active one" bash -c '"$1" --vault "$2" mk list --json | grep -q "\"id\": *10"' _ "$KMC" "$W"
printf 'a = %s\n' "$WS" >"$T/small.conf"
big() {	# big FILE SIZE: two key-1 strings, padded to SIZE bytes
	{ printf 'a = %s\nb = %s\n' "$WS" "$WS"
	  head -c "$(($2 - 2 * ${#WS} - 10 - 1))" /dev/zero | tr '\0' '#'
	  printf '\n'; } >"$1"
	chmod 600 "$1"
}
big "$T/big.conf" $((1024 * 1024 - 1))
check "big.conf is 1 MiB less one byte" test "$(stat -c %s "$T/big.conf")" = $((1024 * 1024 - 1))
small_before=$(sha256sum <"$T/small.conf")
big_before=$(sha256sum <"$T/big.conf")
t_err 2 "mk rewrap that would grow big.conf past 1 MiB: refused, naming it" \
	"$T/big.conf: sealed again it would be 1048577 bytes" \
	wk mk rewrap --conf "$T/small.conf" --conf "$T/big.conf"
check "... small.conf, named first, is untouched too" \
	test "$(sha256sum <"$T/small.conf")" = "$small_before"
check "... and big.conf" test "$(sha256sum <"$T/big.conf")" = "$big_before"
big "$T/big.conf" $((1024 * 1024 - 2))
t_err 0 "one byte shorter, it ends at exactly 1 MiB: done" \
	'3 strings in 2 config files' wk mk rewrap --conf "$T/small.conf" --conf "$T/big.conf"
check "big.conf is 1 MiB" test "$(stat -c %s "$T/big.conf")" = $((1024 * 1024))

# A damaged record is named, with what to do, by each mk command that
# counts or re-seals the items; nothing is changed.
D=$T/dvault
dk() { "$KMC" --vault "$D" "$@"; }
dk init 2>/dev/null
secret_file "$T/dpw" 'a password'
dk password set good --password-file "$T/dpw" 2>/dev/null
dk password set bad --password-file "$T/dpw" 2>/dev/null
dk mk rotate >/dev/null 2>&1
hexname() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
{
	mdb_dump -n -s items "$D/items.mdb" | sed '/^HEADER=END$/q'
	printf ' %s\n 00\nDATA=END\n' "$(hexname bad)"
} | mdb_load -n -s items "$D/items.mdb" 2>/dev/null
before=$(snapshot "$D")
t_err 4 "mk list over a damaged record names it and says what to do" \
	"item bad: damaged record; kmc rm it, then run this again" dk mk list
t_err 4 "mk rewrap over a damaged record: the same" \
	"item bad: damaged record; kmc rm it, then run this again" dk mk rewrap
t_err 4 "mk retire over a damaged record: the same" \
	"item bad: damaged record; kmc rm it, then run this again" dk mk retire 1
check "... and none of them changed the vault" test "$before" = "$(snapshot "$D")"
t "kmc rm bad, as told" dk rm bad
t "then mk rewrap runs" dk mk rewrap
t "and mk retire 1" dk mk retire 1

# ---- master-key ids after a restore -------------------------------------------

# kmc restore takes back the master keys made after the backup: a string
# sealed with one then names a key the vault does not hold, and once a
# rotation makes a new key of that id, one that fails authentication.
# Both messages say a restore may be why (exit 7, exit 4).
RV=$T/rv
rk() { "$KMC" --vault "$RV" "$@"; }
secret_file "$T/rs" 'sealed-after-the-backup'
rk init 2>/dev/null
rk backup --out "$T/rv-bk" 2>/dev/null
rk mk rotate 2>/dev/null
RS=$(rk encrypt <"$T/rs" 2>/dev/null)
check "a string sealed with master key 2, made after the backup" test "${RS#kmc:v1:2:}" != "$RS"
rk mk rotate 2>/dev/null
t_err 0 "restore the backup: it says master keys 2 and 3 are gone, and what that means" \
	"master keys 2 to 3 of the vault replaced, made after the backup, are gone: kmc:v1: strings sealed with them no longer decrypt, and the next kmc mk rotate makes a new key 2" \
	rk restore "$T/rv-bk"
t_err 7 "decrypt: the string names key 2, which the restore took back, and says so" \
	"master key 2, which this vault does not hold: .*sealed after the backup that kmc restore put back" \
	rk decrypt "$RS"
rk backup --out "$T/rv-bk2" 2>/dev/null
rk restore "$T/rv-bk2" --json >"$T/rv.json" 2>/dev/null
check "a restore that takes back no key says none (--json: 0 and 0)" \
	jqt "$T/rv.json" '.mk_lost_first == 0 and .mk_lost_last == 0'
t "mk rotate makes a new master key 2" rk mk rotate
t_err 4 "decrypt: the string fails under the new key 2, and the message names a restore" \
	"fails authentication: altered, made by another vault, or sealed with an earlier master key 2 that a restore took back" \
	rk decrypt "$RS"

done_testing
