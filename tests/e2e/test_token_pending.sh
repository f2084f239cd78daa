#!/usr/bin/env bash
# test_token_pending.sh - keys on a token a change leaves waiting to be
# destroyed: a destruction that failed after the commit (the token away)
# stays on the vault's list, kmc status shows it, and kmc repair destroys
# it once the token is back; a forged list (written into items.mdb behind
# kmc's back) never makes kmc destroy a key a record of the vault names,
# live or old; a damaged list is refused by a change and dropped by kmc
# repair. (The kill between a change's commit and the destruction is
# swept in token_rotation_faults.sh.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"

V=$T/vault
P=$T/pki
kmc() { setsid -w "$KMC" --vault "$V" "$@"; }
HELPER=$T/pending_put

keys_are() { [ "$(keys)" = "$1" ] || { echo "the token holds: $(keys)" >&2; false; }; }
# waiting N: kmc status (text and --json) shows N keys waiting.
waiting() {
	local tx
	waiting_json "$1" || return 1
	tx=$("$KMC" --vault "$V" status 2>/dev/null)
	if [ "$1" = 0 ]; then
		! grep -q "waiting to be destroyed" <<<"$tx"
	else
		grep -q "^token keys     $1 waiting to be destroyed" <<<"$tx" ||
			{ echo "status: $tx" >&2; false; }
	fi
}
uri_of() { grep -o 'moved to the token: pkcs11:[^ ;]*;[^ ]*' "$LAST_ERR" | sed 's/^moved to the token: //; s/;$//'; }

check "the pending_put helper builds" kmc_cc "$HELPER" "$KMC_TOP/tests/e2e/pending_put.c"
"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
for k in k2 k3; do
	"$P/issue.sh" "$T/$k" prime256v1 unused >/dev/null
done
t "a vault" kmc init
t "import web --on-token" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name web --on-token "$TOK"
OLD_URI=$(uri_of)
t "import web --replace --on-token" kmc import -c "$P/ca.crt" -s "$T/k2.crt" \
	-k "$T/k2.plain" --name web --replace --on-token "$TOK"
LIVE_URI=$(uri_of)
LIVE=$(keys | cut -d' ' -f2)
check "the token holds the old key and the live one" test -n "$LIVE" -a -n "$OLD_URI" -a -n "$LIVE_URI"
check "nothing waits to be destroyed" waiting 0

# ---- a destruction that failed stays listed, and kmc repair finishes it ----------------

t "rm web --old with the token away: the old version goes, exit 0" \
	env SOFTHSM2_CONF="$T/away.conf" setsid -w "$KMC" --vault "$V" rm web --old
check "... the key left is named, with kmc repair as the way out" \
	grep -q "could not remove from the token: pkcs11:token=srv;.*object=web?.*kmc repair tries again" "$LAST_ERR"
check "the old key is still on the token" keys_are "web $LIVE"
check "kmc status shows one key waiting to be destroyed" waiting 1
t "kmc repair with the token away again: exit 0" \
	env SOFTHSM2_CONF="$T/away.conf" setsid -w "$KMC" --vault "$V" repair
check "... it says it could not, and the key still waits" waiting 1
t "kmc repair with the token back" kmc repair
check "... names the key it removed" \
	grep -q "removed from the token: pkcs11:token=srv;.*object=web?" "$LAST_ERR"
check "the old key is gone from the token, the live one stays" keys_are "$LIVE"
check "nothing waits any more" waiting 0
t "kmc repair again" kmc repair
check "... removes nothing more" bash -c "! grep -q 'from the token' '$LAST_ERR'"
t "kmc audit" bash -c "'$KMC' --vault '$V' audit >'$T/audit.txt'"
check "the audit log records the failed and the finished destruction of web/key v1" \
	test "$(grep -c 'token key destroyed: web/key v1 -> ' "$T/audit.txt")" = 3 -a \
	"$(grep -c 'token key destroyed: web/key v1 -> ok' "$T/audit.txt")" = 1

# ---- a forged list never destroys a key a record names ---------------------------------

check "a list naming the live key is written behind kmc's back" \
	"$HELPER" "$V" web/key 1 "$LIVE_URI"
check "kmc status shows it" waiting 1
t "kmc repair" kmc repair
check "... destroys nothing" bash -c "! grep -q 'from the token' '$LAST_ERR'"
check "the live key stays on the token" keys_are "$LIVE"
check "the list is gone: the key is named by a record" waiting 0
# The same key named by URIs that differ as strings: no object=, no id=,
# the id escaped in lower case.
NO_OBJ=$(sed 's/;object=[^;?]*//' <<<"$LIVE_URI")
NO_ID=$(sed 's/;id=[^;?]*//' <<<"$LIVE_URI")
LOWER=$(sed 's/%\([0-9A-F][0-9A-F]\)/%\L\1/g' <<<"$LIVE_URI")
check "a list naming the live key in three other spellings is written" \
	bash -c '[ "$2" != "$1" ] && [ "$3" != "$1" ] && [ "$4" != "$1" ] &&
		"$0" "$5" web/key 1 "$2" "$3" "$4"' "$HELPER" "$LIVE_URI" "$NO_OBJ" "$NO_ID" "$LOWER" "$V"
check "kmc status shows three" waiting 3
t "kmc repair" kmc repair
check "... destroys nothing" bash -c "! grep -q 'from the token' '$LAST_ERR'"
check "the live key stays on the token" keys_are "$LIVE"
check "nothing waits" waiting 0
t "import web --replace --on-token: the live key becomes an old version" \
	kmc import -c "$P/ca.crt" -s "$T/k3.crt" -k "$T/k3.plain" --name web \
	--replace --on-token "$TOK"
NEWEST=$(keys | tr ' ' '\n' | grep -vx "$LIVE")
check "a list naming the old version's key, under another item, is written" \
	"$HELPER" "$V" other/key 7 "$LIVE_URI"
t "kmc repair" kmc repair
check "the key an old version names stays on the token" keys_are "$(printf '%s\n' "$LIVE" "$NEWEST" | sort | tr '\n' ' ' | sed 's/ $//')"
check "... and nothing is said removed" bash -c "! grep -q 'from the token' '$LAST_ERR'"
t "kmc audit verify" kmc audit verify

# ---- a full list -----------------------------------------------------------------------
# 1024 URIs of keys the token does not hold: a change that would drop a
# key is refused (its key could not be listed), and kmc repair empties
# the list (a key not on the token is as good as destroyed).

QUERY=${LIVE_URI#*\?}
fill=()
for i in $(seq 1 1024); do fill+=("pkcs11:token=srv;object=fill$i?$QUERY"); done
check "a list of 1024 URIs is written behind kmc's back" "$HELPER" "$V" other/key 1 "${fill[@]}"
check "kmc status counts them" waiting 1024
t_err 1 "rm web --old, which would drop a key, is refused: the list is full" \
	"the list of keys on a token waiting to be destroyed is full .1024." kmc rm web --old
check "both keys stay on the token" test "$(keys | wc -w)" = 2
check "web keeps its old version" bash -c "'$KMC' --vault '$V' list | grep -q '^web/key .*(+1 old)'"
t "kmc repair" kmc repair
check "... empties the list" waiting 0
check "... and leaves both keys" test "$(keys | wc -w)" = 2
check "... saying each listed key was not on the token, none removed" \
	bash -c '[ "$(grep -c "^kmc: not on the token any more: pkcs11:token=srv;object=fill" "$1")" = 1024 ] &&
		! grep -q "removed from the token" "$1"' _ "$LAST_ERR"
check "... and the audit log records them so" \
	bash -c '[ "$("$0" --vault "$1" audit | grep -c "token key destroyed: other/key v1 -> not on the token")" = 1024 ]' "$KMC" "$V"

# ---- a damaged list --------------------------------------------------------------------

check "a damaged list is written behind kmc's back" "$HELPER" "$V" --bytes 01ffff
check "kmc status counts it" waiting 1
t_err 4 "a change of a bundle on the token refuses it: exit 4, naming the list" \
	"the list of keys on a token waiting to be destroyed" kmc rm web --old
check "both keys stay on the token" test "$(keys | wc -w)" = 2
t "kmc repair drops it" kmc repair
check "... and says so" grep -q "is damaged.*dropped: keys it named may be left on a token" "$LAST_ERR"
check "nothing waits any more" waiting 0
t "rm web --old now" kmc rm web --old
check "... removes the old key from the token" keys_are "$NEWEST"
check "nothing waits" waiting 0

# ---- a damaged record of a bundle on the token ------------------------------------------
# kmc rm is the way out of a damaged bundle: the key its damaged record
# named cannot be known, so it is left and said; the key an old, whole
# record names goes. (A failure that is not damage, memory or I/O, stops
# the rm instead: token_rotation_faults.sh sweeps it.)

t "import dmg --on-token" kmc import -c "$P/ca.crt" -s "$T/k3.crt" \
	-k "$T/k3.plain" --name dmg --on-token "$TOK"
DMG_OLD=$(uri_of)
t "import dmg --replace --on-token" kmc import -c "$P/ca.crt" -s "$T/k2.crt" \
	-k "$T/k2.plain" --name dmg --replace --on-token "$TOK"
DMG_LIVE=$(uri_of)
label_of() { sed 's/.*;object=\([^?;]*\).*/\1/; s/%7E/~/g' <<<"$1"; }
DMG_OLD_L=$(label_of "$DMG_OLD") DMG_LIVE_L=$(label_of "$DMG_LIVE")
holds() { tr ' ' '\n' <<<"$(keys)" | grep -qxF -- "$1"; }
lacks() { ! holds "$1" || { echo "the token holds: $(keys)" >&2; false; }; }
check "the token holds dmg's old key" holds "$DMG_OLD_L"
check "... and its live one" holds "$DMG_LIVE_L"
hexname() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
{
	mdb_dump -n -s items "$V/items.mdb" | sed '/^HEADER=END$/q'
	printf ' %s\n 00\nDATA=END\n' "$(hexname dmg/key)"
} | mdb_load -n -s items "$V/items.mdb" 2>/dev/null
t_err 0 "rm dmg with its current key record damaged succeeds, saying a key may be left" \
	"a version of dmg that could not be read may have named a key on a token, which is then left there" \
	kmc rm dmg
check "... removes the key the old record named" lacks "$DMG_OLD_L"
check "... and leaves the one the damaged record named" holds "$DMG_LIVE_L"
check "nothing waits to be destroyed" waiting 0

# ---- a key made with --pin-file: its URI records no pin-source -------------------------
# Its destruction logged in with the URI's pin-source only, so neither
# kmc rm nor kmc repair could ever destroy it, --pin-file or not. The
# PIN given with --pin-file/--pin-fd now logs in where the URI has none;
# a URI's pin-source still comes first (a wrong --pin-file is not tried
# against the token, whose PIN would count it).
NOSRC="pkcs11:token=srv?module-path=$MOD"
secret_file "$T/badpin" 'not-the-pin'
t "key gen np1 --pin-file (a URI without pin-source)" kmc key gen np1 --pin-file "$PINF" --on-token "$NOSRC"
t "rm np1 without a PIN: removed from the vault, exit 0" kmc rm np1
check "... the key waits, the token asking for a PIN" \
	grep -q "could not remove from the token: .*object=np1.*needs a PIN and none was given" "$LAST_ERR"
check "kmc status shows it waiting" waiting 1
t "kmc repair --pin-file destroys it" kmc repair --pin-file "$PINF"
check "... saying so" grep -q "removed from the token: .*object=np1" "$LAST_ERR"
check "the token no longer holds np1" bash -c "! grep -qw np1 <<<\"\$1\"" _ "$(keys)"
check "nothing waits" waiting 0
t "key gen np2 --pin-file" kmc key gen np2 --pin-file "$PINF" --on-token "$NOSRC"
t "rm np2 --pin-file destroys its key at once" kmc rm np2 --pin-file "$PINF"
check "the token no longer holds np2" bash -c "! grep -qw np2 <<<\"\$1\"" _ "$(keys)"
check "nothing waits" waiting 0
t "key gen ps with pin-source in its URI" kmc key gen ps --on-token "$TOK"
t "rm ps --pin-file with a wrong PIN: the URI's pin-source logs in" kmc rm ps --pin-file "$T/badpin"
check "the token no longer holds ps" bash -c "! grep -qw ps <<<\"\$1\"" _ "$(keys)"
check "nothing waits" waiting 0

# ---- a vault opened by a key on the same token ------------------------------------------
# Its commits write the binding's counter object on the token: the key
# URI is listed before the token makes the key with no token lock held.

KV=$T/kv
kv() { timeout 120 setsid -w "$KMC" --vault "$KV" "$@" --pin-file "$PINF"; }
t "a vault protected by a key on token srv (its counter object there too)" \
	kv init --protector pkcs11 --pkcs11-uri "pkcs11:token=srv;object=vk?module-path=$MOD" --create-key
t "key gen tk --on-token in it" kv key gen tk --on-token "$TOK"
check "the key is on the token" bash -c "grep -qw tk <<<\"\$1\"" _ "$(keys)"
check "nothing waits in that vault" bash -c '[[ $("$0" --vault "$1" status --json) == *"\"token_destroys_pending\":0,"* ]]' "$KMC" "$KV"
t "rm tk" kv rm tk
check "... removes its key from the token" bash -c "! grep -qw tk <<<\"\$1\"" _ "$(keys)"

done_testing
