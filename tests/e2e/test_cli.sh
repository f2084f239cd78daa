#!/usr/bin/env bash
# test_cli.sh - the kmc command end to end on temp vaults: init, status,
# list, rm, passwords, ciphertext strings, help and usage errors, where
# the vault is found, and secrets that never need the command line.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
mode() { stat -c %a "$1"; }
same_mode() { [ "$(mode "$1")" = "$2" ]; }
# jqt FILE FILTER: the JSON in FILE satisfies FILTER.
jqt() { jq -e "$2" "$1" >/dev/null; }
# bytes_are FILE TEXT: FILE holds exactly TEXT, no newline added.
bytes_are() { printf '%s' "$2" | cmp -s - "$1"; }
# keep: save the last command's stdout (check empties $OUT before it runs).
LAST=$T/last.out
keep() { cp "$OUT" "$LAST"; }

PW=$T/pw1
secret_file "$PW" 'hunter2'
PW2=$T/pw2
secret_file "$PW2" 'c0rrect horse battery'
PP=$T/passphrase
secret_file "$PP" 'a long enough passphrase'
ARGON=(--argon2-ops 1 --argon2-mem 8)

# ---- init with the host protector ---------------------------------------

t_err 0 "init with the host protector reports the new vault" "created vault $V" \
	kmc init
check "the vault directory is 0700" same_mode "$V" 700
check "kmc.ks is 0600" same_mode "$V/kmc.ks" 600
check "StandbyKsf.ks is 0600" same_mode "$V/StandbyKsf.ks" 600
check "kmc.ks and StandbyKsf.ks are byte-identical" cmp -s "$V/kmc.ks" "$V/StandbyKsf.ks"
check "items.mdb is 0600" same_mode "$V/items.mdb" 600
check "the host key was created at \$KMC_HOST_KEY" test -f "$KMC_HOST_KEY" -a -s "$KMC_HOST_KEY"
check "the host key is 0400" same_mode "$KMC_HOST_KEY" 400
check "no temporary directory is left beside the vault" \
	bash -c '! compgen -G "$1/.vault.init-*"' _ "$T"

# ---- status ----------------------------------------------------------------

t "status exits 0 on a new vault" kmc status
keep
check "status shows kmc.ks as ok" grep -Eq '^kmc\.ks +ok' "$LAST"
check "status shows StandbyKsf.ks as ok" grep -Eq '^StandbyKsf\.ks +ok' "$LAST"
kmc status --json >"$T/status.json" 2>/dev/null
check "status --json is valid JSON" jq . "$T/status.json"
check "status --json: vault_id is 32 hex digits" \
	jqt "$T/status.json" '.vault_id | test("^[0-9a-f]{32}$")'
check "status --json: healthy is true" jqt "$T/status.json" '.healthy == true'
check "status --json: kmc.ks is ok" jqt "$T/status.json" '.keystores["kmc.ks"].state == "ok"'
check "status --json: StandbyKsf.ks is ok" \
	jqt "$T/status.json" '.keystores["StandbyKsf.ks"].state == "ok"'
check "status --json: one protector, of type host" \
	jqt "$T/status.json" '(.protectors | length) == 1 and .protectors[0].type == "host"'
check "status --json: the host protector names the host key" \
	jqt "$T/status.json" ".protectors[0].detail | contains(\"$KMC_HOST_KEY\")"
check "status --json: no items yet" jqt "$T/status.json" '.items == 0'
VID=$(jq -r .vault_id "$T/status.json")
t_out "status (text) shows the same vault id" "$VID" \
	bash -c '"$1" --vault "$2" status | awk "/^vault id/ {print \$3}"' _ "$KMC" "$V"

# A keystore that was not read has no generation: 0 would read as an old one.
cp -a "$V" "$T/vdamaged"
printf 'not a keystore' >"$T/vdamaged/StandbyKsf.ks"
"$KMC" --vault "$T/vdamaged" status >"$LAST" 2>/dev/null
check "status shows a damaged StandbyKsf.ks as damaged, with no generation" \
	grep -Eq '^StandbyKsf\.ks +damaged$' "$LAST"
"$KMC" --vault "$T/vdamaged" status --json >"$T/damaged.json" 2>/dev/null
check "status --json: a damaged keystore's generation is null" jqt "$T/damaged.json" \
	'.keystores["StandbyKsf.ks"] == {"state":"damaged","generation":null} and
	 .keystores["kmc.ks"].generation == 1'
rm "$T/vdamaged/StandbyKsf.ks"
"$KMC" --vault "$T/vdamaged" status --json >"$T/missing.json" 2>/dev/null
check "status --json: a missing keystore's generation is null" jqt "$T/missing.json" \
	'.keystores["StandbyKsf.ks"] == {"state":"missing","generation":null}'

# ---- init refuses to overwrite ----------------------------------------------

before=$(snapshot "$V")
t_err 8 "init over an existing vault is refused with exit 8" "$V" kmc init
check "init over an existing vault changed nothing" \
	test "$before" = "$(snapshot "$V")"

mkdir -m 700 "$T/busy"
echo "keep me" >"$T/busy/notes.txt"
before=$(snapshot "$T/busy")
t_err 8 "init into a non-empty directory is refused with exit 8" "$T/busy.*not empty" \
	"$KMC" --vault "$T/busy" init
check "the non-empty directory is unchanged" test "$before" = "$(snapshot "$T/busy")"
check "no vault file appeared in it" test ! -e "$T/busy/kmc.ks"
check "no temporary directory is left beside it" \
	bash -c '! compgen -G "$1/.busy.init-*"' _ "$T"

mkdir -m 700 "$T/empty"
t "init into an existing empty directory works" "$KMC" --vault "$T/empty" init
t "... and the vault there is healthy" "$KMC" --vault "$T/empty" status

# ---- init with the passphrase protector --------------------------------------

P1=$T/pvault1
t_err 0 "init --protector passphrase with --passphrase-file" "created vault" \
	"$KMC" --vault "$P1" init --protector passphrase --passphrase-file "$PP" "${ARGON[@]}"
"$KMC" --vault "$P1" status --json >"$T/p1.json" 2>/dev/null
check "the passphrase vault has one protector, of type passphrase" \
	jqt "$T/p1.json" '(.protectors | length) == 1 and .protectors[0].type == "passphrase"'
check "the passphrase vault is healthy" jqt "$T/p1.json" '.healthy == true'
check "the passphrase vault is 0700 with 0600 keystores" \
	bash -c '[ "$(stat -c %a "$1" "$1/kmc.ks" "$1/StandbyKsf.ks" "$1/items.mdb" | tr "\n" " ")" = "700 600 600 600 " ]' _ "$P1"
t "a password is stored in the passphrase vault with --passphrase-file" \
	"$KMC" --vault "$P1" password set db --password-file "$PW" --passphrase-file "$PP"
"$KMC" --vault "$P1" password get db --passphrase-file "$PP" >"$T/got" 2>/dev/null
check "... and read back with --passphrase-file" bytes_are "$T/got" 'hunter2'

P2=$T/pvault2
init_pp_fd() { "$KMC" --vault "$P2" init --protector passphrase --passphrase-fd 3 "${ARGON[@]}" 3<"$PP"; }
t "init --protector passphrase with --passphrase-fd" init_pp_fd
set_pp_fd() { "$KMC" --vault "$P2" password set db --password-file "$PW" --passphrase-fd 3 3<"$PP"; }
t "a password is stored with --passphrase-fd" set_pp_fd
get_pp_fd() { "$KMC" --vault "$P2" password get db --passphrase-fd 3 3<"$PP"; }
t_out "... and read back with --passphrase-fd" 'hunter2' get_pp_fd
# Numbers are digits only: strtoull would take a blank or a sign first.
for fd in ' 3' '+3' '3 '; do
	t_err 2 "--passphrase-fd '$fd' is not a descriptor number (exit 2)" \
		'not a descriptor number' "$KMC" --vault "$P2" password get db --passphrase-fd "$fd" 3<"$PP"
done

secret_file "$T/short" 'short'
t_err 2 "a passphrase shorter than 8 characters is refused (exit 2)" "8 characters" \
	"$KMC" --vault "$T/pshort" init --protector passphrase --passphrase-file "$T/short" "${ARGON[@]}"
check "... and no vault was made" test ! -e "$T/pshort"
t_err 2 "init --protector with an unknown type is refused (exit 2)" "passphrase" \
	"$KMC" --vault "$T/pbad" init --protector floppy
check "... and no vault was made" test ! -e "$T/pbad"

# ---- passwords, list, rm ------------------------------------------------------

t_out "list of an empty vault prints nothing" "" kmc list
t_out "list --json of an empty vault is []" "[]" kmc list --json
t_err 0 "password set stores a password" "stored password db" \
	kmc password set db --password-file "$PW"
kmc password get db >"$T/got" 2>/dev/null
check "password get prints exactly the stored bytes, no newline" bytes_are "$T/got" 'hunter2'

# Bytes a shell would mangle: spaces, tabs, quotes, a backslash, UTF-8.
odd=$'  sp\tace "q" \\ \xc3\xa9  '
secret_file "$T/odd" "$odd"
t "a password with white space, quotes and UTF-8 is stored" \
	kmc password set odd --password-file "$T/odd"
kmc password get odd >"$T/got" 2>/dev/null
check "... and comes back byte for byte" bytes_are "$T/got" "$odd"

set_pw_fd() { kmc password set viafd --password-fd 4 4<"$PW2"; }
t "password set reads --password-fd" set_pw_fd
kmc password get viafd >"$T/got" 2>/dev/null
check "... and the password from the descriptor comes back" bytes_are "$T/got" 'c0rrect horse battery'

t "list shows the items" kmc list
keep
check "list names db, odd and viafd" bash -c 'grep -q "^db " "$1" && grep -q "^odd " "$1" && grep -q "^viafd " "$1"' _ "$LAST"
kmc list --json >"$T/list.json" 2>/dev/null
check "list --json is a JSON array of three items" jqt "$T/list.json" 'length == 3'
check "list --json is in name order" jqt "$T/list.json" '[.[].name] == ["db", "odd", "viafd"]'
check "list --json: db is a password, version 1, 7 bytes" \
	jqt "$T/list.json" '.[0] | .type == "password" and .version == 1 and .size == 7 and .mk_id == 1'
check "list does not print any secret" bash -c '! grep -q hunter2 "$1"' _ "$T/list.json"

t "replacing a password works" kmc password set db --password-file "$PW2"
kmc list --json >"$T/list.json" 2>/dev/null
check "replacing raised the version shown by list --json to 2" \
	jqt "$T/list.json" '.[] | select(.name == "db") | .version == 2'
check "... and the size to that of the new password" \
	jqt "$T/list.json" '.[] | select(.name == "db") | .size == 21'
kmc password get db >"$T/got" 2>/dev/null
check "password get returns the new password" bytes_are "$T/got" 'c0rrect horse battery'
kmc status --json >"$T/status.json" 2>/dev/null
check "status --json counts three items" jqt "$T/status.json" '.items == 3'

t "rm removes an item" kmc rm odd
t_err 7 "password get of a removed item exits 7 naming it" "odd" kmc password get odd
t_err 7 "rm of a missing item exits 7 naming it" "no item odd" kmc rm odd
kmc list --json >"$T/list.json" 2>/dev/null
check "list no longer shows the removed item" jqt "$T/list.json" '[.[].name] == ["db", "viafd"]'
# A bundle NAME is known by NAME/meta of type bundle: passwords stored as
# tenant, tenant/meta and tenant/key are three items, and rm tenant
# takes only the one it names.
for n in tenant tenant/meta tenant/key; do
	t "password set $n" kmc password set "$n" --password-file "$PW"
done
t "password set tenant again: no bundle, so it is replaced" kmc password set tenant --password-file "$PW"
t "rm tenant" kmc rm tenant
kmc list --json >"$T/list.json" 2>/dev/null
check "... leaves tenant/meta and tenant/key, passwords of their own" \
	jqt "$T/list.json" '[.[].name] == ["db", "tenant/key", "tenant/meta", "viafd"]'
t "rm tenant/meta" kmc rm tenant/meta
t "rm tenant/key" kmc rm tenant/key
# Names under ca: and trust: are the vault's own (a CA's, a trust
# store's): a password made there first took the name from the CA or
# store made later, which then failed. Refused, naming the prefix;
# trust:STORE/truststore-password, trust export's password, may be set.
kmc list >"$T/list.before" 2>&1
for n in ca:zz ca:zz/key trust:zz trust:zz/alias trust:/truststore-password; do
	t_err 2 "password set $n is refused (exit 2), naming the prefix" \
		"names that begin with ${n%%:*}: are kept for" kmc password set "$n" --password-file "$PW"
done
batch_ca() { printf 'ca:zz pw\n' | kmc password set --batch -; }
t_err 2 "password set --batch with ca:zz is refused too" "line 1: .*kept for the vault's CAs" batch_ca
kmc list >"$T/list.now" 2>&1
check "... and nothing was stored" cmp -s "$T/list.before" "$T/list.now"
t "ca init zz works, the name still free" kmc ca init zz --subject /CN=zz
t "password set trust:zz/truststore-password is allowed" \
	kmc password set trust:zz/truststore-password --password-file "$PW"
t "rm ca:zz" kmc rm ca:zz
t "rm trust:zz/truststore-password" kmc rm trust:zz/truststore-password
t_err 7 "password get of an unknown name exits 7 naming it" "nosuch" kmc password get nosuch
t_err 2 "an invalid item name is refused (exit 2)" "\.hidden" \
	kmc password set .hidden --password-file "$PW"

# ---- ciphertext strings --------------------------------------------------------

kmc encrypt 'sesame open' >"$T/enc" 2>/dev/null
S=$(cat "$T/enc")
check "encrypt prints a kmc:v1 string" bash -c '[[ $1 =~ ^kmc:v1:1:[A-Za-z0-9_-]+$ ]]' _ "$S"
check "the string does not contain the secret" bash -c '! grep -q sesame "$1"' _ "$T/enc"
kmc decrypt "$S" >"$T/got" 2>/dev/null
check "decrypt of the operand gives the exact secret back" bytes_are "$T/got" 'sesame open'

enc_stdin() { printf 'from stdin' | kmc encrypt; }
enc_stdin >"$T/enc2" 2>/dev/null
S2=$(cat "$T/enc2")
check "encrypt reads the secret from standard input" bash -c '[[ $1 =~ ^kmc:v1:1: ]]' _ "$S2"
dec_stdin() { printf '%s\n' "$S2" | kmc decrypt; }
dec_stdin >"$T/got" 2>/dev/null
check "decrypt reads the string from standard input" bytes_are "$T/got" 'from stdin'
check "two encryptions of one secret differ" test "$S" != "$(kmc encrypt 'sesame open' 2>/dev/null)"

t_err 4 "a string made by another vault is refused (exit 4)" "authentication" \
	kmc decrypt "$("$KMC" --vault "$T/empty" encrypt 'sesame open' 2>/dev/null)"
t_err 2 "a malformed string is refused (exit 2)" "kmc:v1" kmc decrypt 'kmc:v1:1:not*base64!'
t_err 2 "a string without the kmc: prefix is refused (exit 2)" "kmc:v1" kmc decrypt 'hello'
# Change one character in the middle of the base64 (not the last one,
# whose low bits may be padding).
c=${S:20:1}
[ "$c" = A ] && c=B || c=A
tampered=${S:0:20}$c${S:21}
t_err 4 "an altered string is refused (exit 4)" "authentication" kmc decrypt "$tampered"
t_err 2 "encrypt of an empty secret is refused (exit 2)" "empty" kmc encrypt ''
# Standard input is one string and at most a newline: a NUL used to end
# it early, so "<valid string>\0garbage" decrypted with exit 0.
dec_nul() { printf '%s\0garbage\n' "$S" | kmc decrypt; }
t_err 2 "decrypt of a valid string, a NUL and more on stdin is refused (exit 2)" \
	"standard input holds a NUL byte \(byte $((${#S} + 1))\)" dec_nul
dec_nul_end() { printf '%s\n\0' "$S" | kmc decrypt; }
t_err 2 "... and so is a valid string with a NUL after its newline" "NUL byte" dec_nul_end
dec_two() { printf '%s\n%s\n' "$S" "$S" | kmc decrypt; }
t_err 2 "... and two strings on two lines" "kmc:v1" dec_two
enc_nul() { printf 'a\0b' | kmc encrypt; }
t_err 2 "encrypt of a secret holding a NUL byte is refused (exit 2)" \
	"secret to encrypt holds a NUL byte \(byte 2\)" enc_nul

# ---- control characters in names and paths are escaped in what kmc prints -------
# An item name or a vault path holding ESC or a newline used to reach stderr
# raw: it could forge a second "kmc:" line or drive the terminal.

ESCNAME=$'db\e[2J\nkmc: all is well'
clean_one_line() { # clean_one_line FILE: one line, no control byte but its newline
	[ "$(wc -l <"$1")" -eq 1 ] || { echo "$(wc -l <"$1") lines in $1" >&2; return 1; }
	! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1" || { echo "a raw control byte in $1" >&2; return 1; }
}
t_err 2 "an item name holding ESC and a newline is refused (exit 2), shown escaped" \
	'db\\x1b\[2J\\nkmc: all is well' kmc password get "$ESCNAME"
check "... on one line, with no raw control byte" clean_one_line "$LAST_ERR"
t_err 2 "... and so in password set" 'db\\x1b\[2J\\nkmc' kmc password set "$ESCNAME" --password-file "$PW"
check "... on one line" clean_one_line "$LAST_ERR"
t_err 2 "cert info of such a name or file is refused, shown escaped" 'db\\x1b\[2J\\n' \
	kmc cert info "$ESCNAME"
check "... on one line" clean_one_line "$LAST_ERR"
t_err 2 "a tab, a backslash, DEL and a C1 CSI are escaped too" \
	'a\\tb\\\\c\\x7fd\\xc2\\x9be' kmc password get $'a\tb\\c\x7fd\xc2\x9be'
t_err 2 "... while UTF-8 text stays as it is" $'caf\xc3\xa9 x' kmc password get $'caf\xc3\xa9 x'
ESCDIR=$T/$'v\e]0;owned\a\nkmc: vault ok'
t_err 7 "a vault path holding ESC, BEL and a newline is shown escaped" \
	'v\\x1b\]0;owned\\x07\\nkmc: vault ok' "$KMC" --vault "$ESCDIR" status
check "... on one line" clean_one_line "$LAST_ERR"
t_err 0 "init in such a path says so, escaped" 'created vault .*v\\x1b\]0;owned\\x07\\nkmc' \
	"$KMC" --vault "$ESCDIR" init
check "... on one line" clean_one_line "$LAST_ERR"
"$KMC" --vault "$ESCDIR" status >"$T/esc.status" 2>/dev/null
check "status prints the vault path escaped on its line" \
	grep -qF 'v\x1b]0;owned\x07\nkmc: vault ok' "$T/esc.status"
check "... and no raw control byte" bash -c '! LC_ALL=C grep -q $'"'"'[\x01-\x09\x0b-\x1f\x7f]'"'"' "$1"' _ "$T/esc.status"
printf 'p\e[0m\\x1b\nq\n' >"$T/pwesc"
chmod 600 "$T/pwesc"
t "a password holding ESC, a backslash and a newline is stored" \
	"$KMC" --vault "$ESCDIR" password set db --password-file "$T/pwesc"
"$KMC" --vault "$ESCDIR" password get db >"$T/got" 2>/dev/null
check "... and password get gives its exact bytes back (secrets are never escaped)" \
	bytes_are "$T/got" $'p\e[0m\\x1b\nq'
"$KMC" --vault "$ESCDIR" encrypt <"$T/pwesc" >"$T/enc.esc" 2>/dev/null
"$KMC" --vault "$ESCDIR" decrypt "$(cat "$T/enc.esc")" >"$T/got" 2>/dev/null
check "... and so does decrypt" bytes_are "$T/got" $'p\e[0m\\x1b\nq'

# ---- help and usage errors -------------------------------------------------------

t "kmc --help exits 0" "$KMC" --help
keep
check "kmc --help documents the exit codes" grep -q "Exit codes: 0 ok" "$LAST"
for c in init status list rm "password set" "password get" encrypt decrypt; do
	# shellcheck disable=SC2086
	t "kmc $c --help exits 0" "$KMC" $c --help
	keep
	check "kmc $c --help prints its usage" grep -q "^usage: kmc $c" "$LAST"
done
t "kmc version exits 0" "$KMC" version
t_err 2 "kmc without a command exits 2" "usage" "$KMC"
t_err 2 "an unknown command exits 2 naming it" "unknown command frobnicate" "$KMC" frobnicate
t_err 2 "an unknown option before the command exits 2" "unknown option --frob" \
	"$KMC" --frob status
t_err 2 "an unknown option of a command exits 2 naming it" "unknown option --frob" \
	kmc list --frob
t_err 2 "an option the command does not take exits 2 naming the option" \
	"does not take --password-file" kmc status --password-file "$PW"
# Each command parses its own options; another command's is still named.
t_err 2 "another command's short option is named by its long name" \
	"status does not take --ca" kmc status -c x
t_err 2 "another command's option, abbreviated, is named in full" \
	"status does not take --keys-dir" kmc status --keys x
t_err 2 "a shared option the command lacks is named" \
	"protector list does not take --host-key" kmc protector list --host-key x
t_err 2 "another command's option without its value is unknown" \
	"unknown option --out" kmc status --out
# A missing value is said to be one, naming the option, not "unknown".
t_err 2 "a shared option without its value names it" \
	"status: --vault needs a value" kmc status --vault
t_err 2 "... also abbreviated, by its full name" \
	"password set: --password-file needs a value" kmc password set x --password-fi
t_err 2 "a short option without its value names it" \
	"import: -c needs a value" kmc import -c
t_err 2 "--vault without its value before the command" "--vault needs a value" \
	"$KMC" --vault
t_err 2 "an own option given twice is refused" "--old given twice" \
	kmc rm x --old --old
t_err 2 "an own option's bad value is refused with the option" \
	"--password-fd: not a descriptor number: z" kmc password set x --password-fd z
t_err 2 "a missing operand exits 2 with the usage" "usage: kmc password get" \
	kmc password get
t_err 2 "an extra operand exits 2" "usage: kmc status" kmc status extra
t_err 2 "an incomplete password command exits 2" "password set NAME" "$KMC" password
t_err 2 "--password-file and --password-fd together exit 2" "not both" \
	kmc password set x --password-file "$PW" --password-fd 0
t_err 2 "a bad --password-fd exits 2" "descriptor" kmc password set x --password-fd abc
# The shared secrets too: neither source may silently win.
t_err 2 "--pin-file and --pin-fd together exit 2 naming both" \
	"give --pin-file or --pin-fd, not both" \
	kmc password get db --pin-file "$PW" --pin-fd 0
t_err 2 "--recovery-file and --recovery-fd together exit 2 naming both" \
	"give --recovery-file or --recovery-fd, not both" \
	kmc password get db --recovery-file "$PW" --recovery-fd 0
t_err 2 "... also for protector add, whose --pin-file is the new token's" \
	"give --pin-file or --pin-fd, not both" \
	kmc protector add pkcs11 --pkcs11-uri 'pkcs11:token=t;object=k' \
	--pin-file "$PW" --pin-fd 0

# ---- where the vault is ------------------------------------------------------------

t_out "--vault before the command picks the vault" "$VID" \
	bash -c '"$1" --vault "$2" status --json | jq -r .vault_id' _ "$KMC" "$V"
t_out "\$KMC_VAULT picks the vault" "$VID" \
	bash -c 'KMC_VAULT="$2" "$1" status --json | jq -r .vault_id' _ "$KMC" "$V"
t_out "--vault after the command picks the vault" "$VID" \
	bash -c '"$1" status --vault "$2" --json | jq -r .vault_id' _ "$KMC" "$V"
t_out "--vault=DIR after the command works too" "$VID" \
	bash -c '"$1" status --json --vault="$2" | jq -r .vault_id' _ "$KMC" "$V"
t_out "--vault wins over \$KMC_VAULT" "$VID" \
	bash -c 'KMC_VAULT="$3" "$1" --vault "$2" status --json | jq -r .vault_id' _ "$KMC" "$V" "$T/nowhere"
kmc_env() { KMC_VAULT="$V" "$KMC" password get db; }
t_out "\$KMC_VAULT works for password get" 'c0rrect horse battery' kmc_env
t_err 7 "a vault directory that does not exist exits 7 naming it" "$T/nowhere" \
	"$KMC" --vault "$T/nowhere" status
t_err 7 "an empty directory is not a vault (exit 7)" "" "$KMC" --vault "$T/busy" list

# ---- secrets never needed on the command line ------------------------------------
# No terminal: a new session without a controlling tty, stdin /dev/null.
notty() { setsid -w timeout -k 5 20 "$@" </dev/null; }

before=$(snapshot "$V")
t_err 2 "without a terminal, password set fails at once (exit 2)" "--password-file" \
	notty "$KMC" --vault "$V" password set newone
check "... and stores nothing" test "$before" = "$(snapshot "$V")"
t_err 2 "without a terminal, init of a passphrase vault fails at once (exit 2)" \
	"--passphrase-file" notty "$KMC" --vault "$T/pnotty" init --protector passphrase "${ARGON[@]}"
check "... and makes no vault" test ! -e "$T/pnotty"
before=$(snapshot "$P1")
t_err 3 "without a terminal, opening a passphrase vault fails at once (exit 3)" \
	"--passphrase-file" notty "$KMC" --vault "$P1" password get db
t_err 3 "... and so does list on it, naming --passphrase-file" "--passphrase-file" \
	notty "$KMC" --vault "$P1" list
t_err 3 "... and password set with a password file but no passphrase" "--passphrase-file" \
	notty "$KMC" --vault "$P1" password set db --password-file "$PW2"
check "... and the passphrase vault is unchanged" test "$before" = "$(snapshot "$P1")"
t_err 2 "without a terminal, encrypt with empty standard input fails (exit 2)" "empty" \
	notty "$KMC" --vault "$V" encrypt

# A prompt waits on a person; it must not hold the writer lock meanwhile.
# protector add passphrase runs on a terminal (script(1) gives it one,
# fed from a fifo); while it waits at "New vault passphrase:", a writer
# on the same vault must get through. Then both lines are typed, each
# after its prompt (the prompt flushes what was typed before), and the
# protector is added.
LV=$T/lockv
LF=$T/lock.fifo
LO=$T/lock.typescript
# wait_text FILE TEXT: poll (bounded) until FILE holds TEXT.
wait_text() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no '$2' in $1:" >&2
	cat -A "$1" >&2
	return 1
}
prompt_while_writing() {
	local spid rc=0
	"$KMC" --vault "$LV" init 2>/dev/null || return 1
	mkfifo "$LF"
	exec 7<>"$LF"
	timeout -k 5 60 script -qfec "$(printf '%q ' "$KMC" --vault "$LV" \
		protector add passphrase "${ARGON[@]}")" /dev/null <"$LF" >"$LO" 2>&1 &
	spid=$!
	check "protector add asks for the new passphrase on the terminal" \
		wait_text "$LO" "New vault passphrase:"
	t "... and meanwhile another writer is not held off" \
		timeout 10 "$KMC" --vault "$LV" password set w --password-file "$PW2"
	printf 'a new passphrase\n' >&7
	check "... it asks again" wait_text "$LO" "Again:"
	printf 'a new passphrase\n' >&7
	wait "$spid" || rc=$?
	exec 7>&-
	check "... and adds the protector (exit 0)" \
		eval '[ "$rc" = 0 ] && grep -q "added protector 2 (passphrase)" "$LO" ||
			{ echo "exit $rc" >&2; cat -A "$LO" >&2; false; }'
	secret_file "$T/lock.pp" 'a new passphrase'
	t_out "the vault opens with that passphrase alone" 'c0rrect horse battery' \
		"$KMC" --vault "$LV" password get w --passphrase-file "$T/lock.pp" \
		--host-key "$T/no-such-host-key"
}
if command -v script >/dev/null; then
	prompt_while_writing
else
	echo "# prompt and writer lock check skipped: no script(1)"
fi

# ---- unsafe secret files ------------------------------------------------------------

echo 'group readable' >"$T/pw644"
chmod 644 "$T/pw644"
before=$(snapshot "$V")
t_err 5 "a password file of mode 0644 is refused (exit 5) naming it" "$T/pw644.*chmod" \
	kmc password set db --password-file "$T/pw644"
check "... and nothing was stored" test "$before" = "$(snapshot "$V")"
cp "$PP" "$T/pp644"
chmod 644 "$T/pp644"
t_err 5 "a passphrase file of mode 0644 is refused (exit 5) naming it" "$T/pp644" \
	"$KMC" --vault "$P1" password get db --passphrase-file "$T/pp644"
ln -s "$PW" "$T/pwlink"
t_err 5 "a password file that is a symbolic link is refused (exit 5)" "symbolic link" \
	kmc password set db --password-file "$T/pwlink"
t_err 7 "a password file that does not exist exits 7 naming it" "$T/nofile" \
	kmc password set db --password-file "$T/nofile"
: >"$T/pwempty"
chmod 600 "$T/pwempty"
t_err 2 "an empty password file is refused (exit 2)" "empty" \
	kmc password set db --password-file "$T/pwempty"
printf 'c0rrect\0horse\n' >"$T/pwnul"
chmod 600 "$T/pwnul"
t_err 2 "a password file holding a NUL byte is refused (exit 2) naming it" \
	"password in $T/pwnul holds a NUL byte \(byte 8\)" \
	kmc password set db --password-file "$T/pwnul"
pw_nul_fd() { kmc password set db --password-fd 3 3<"$T/pwnul"; }
t_err 2 "... and so is one from a descriptor" "NUL byte" pw_nul_fd
kmc password get db >"$T/got" 2>/dev/null
check "after all the refusals db still holds its password" bytes_are "$T/got" 'c0rrect horse battery'

done_testing
