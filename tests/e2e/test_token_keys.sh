#!/usr/bin/env bash
# test_token_keys.sh - server keys that live on a PKCS#11 token (SoftHSM2,
# made in the test's temp dir): kmc key gen --on-token and kmc import
# --on-token put the key there (private, sensitive, never extractable,
# its value unreadable) and the vault records only where it is; kmc csr
# signs on the token and kmc cert set checks against the recorded public
# half; no server.key copy or server_key entry is written; unwrap and
# export refuse with the reason; a URI naming no token, a wrong PIN, a
# taken label, a type tokens do not get, Ed25519 and --stage are refused
# with nothing changed; a key deleted behind the vault's back is named.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v pkcs11-tool >/dev/null; then
	echo "# skip: SoftHSM2 ($MOD, softhsm2-util) or pkcs11-tool is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi

V=$T/vault
P=$T/pki
kmc() { setsid -w "$KMC" --vault "$V" "$@"; }
same() { cmp -s <(snapshot "$V") "$1" || { echo "the vault changed" >&2; false; }; }

export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir -m 700 "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/tokens" >"$SOFTHSM2_CONF"
PIN=srv-pin-7
softhsm2-util --init-token --free --label srv --so-pin so-7 --pin "$PIN" >/dev/null
PINF=$T/pin
secret_file "$PINF" "$PIN"
BAD=$T/bad.pin
secret_file "$BAD" "not-the-pin"
TOK="pkcs11:token=srv?module-path=$MOD&pin-source=$PINF"
p11() { pkcs11-tool --module "$MOD" --token-label srv --login --pin "$PIN" "$@" 2>/dev/null; }
# block LABEL CLASS: pkcs11-tool's lines on the object of that label and
# class ("Private Key", "Public Key").
block() {
	p11 --list-objects | awk -v want="$1" -v cls="$2" '
		/^[^ ]/ { if (hit) printf "%s", blk; blk = ""; hit = 0; c = index($0, cls) == 1 }
		{ blk = blk $0 "\n" }
		c && $1 == "label:" && $2 == want { hit = 1 }
		END { if (hit) printf "%s", blk }'
}
# stays_inside LABEL [imported]: sensitive and not extractable (and for a
# key made there, never extractable: an imported one once was outside).
stays_inside() {
	local b
	b=$(block "$1" "Private Key")
	grep -Eq 'Access: +sensitive' <<<"$b" &&
		{ [ -n "${2:-}" ] || grep -q 'never extractable' <<<"$b"; } &&
		! grep -Eq 'Access:( +| .*, +)extractable(,|$)' <<<"$b" ||
		{ echo "pkcs11-tool says: ${b:-no such object}" >&2; false; }
}
usage_is() { # usage_is LABEL USAGE: the private key's usage, exactly
	block "$1" "Private Key" | grep -Eq "^ *Usage: +$2\$"
}
count_keys() { p11 --list-objects | grep -c '^Private Key Object'; }
sign() {
	(cd "$P" && openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -copy_extensions copy -out "$2") >/dev/null 2>&1
}

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
t "a vault" kmc init

# ---- key gen --on-token -----------------------------------------------------------

t "key gen web --type rsa2048 --on-token" kmc key gen web --type rsa2048 --on-token "$TOK"
check "the output says the key stays on the token and no copy is written" \
	grep -q "made a rsa2048 key web on the token: pkcs11:token=srv;id=.*object=web.*no keys-folder copy" "$LAST_ERR"
check "the token holds the private key, sensitive and never extractable" stays_inside web
check "it decrypts and signs, and unwraps nothing" usage_is web 'decrypt, sign'
check "and its public half beside it" test -n "$(block web 'Public Key')"
kmc list --json >"$T/list.json"
check "web/key is a token-key item" \
	jq -e '[.[] | select(.name == "web/key") | .type] == ["token-key"]' "$T/list.json"
check "the recorded URI keeps pin-source, and no PIN" \
	bash -c "! grep -rqa -- '$PIN' '$V'"
t "key gen ec --type p256 on the token, PIN from --pin-file" \
	kmc key gen ec --pin-file "$PINF" --on-token "pkcs11:token=srv?module-path=$MOD"
check "it warns that servers need pin-source" grep -q "no pin-source" "$LAST_ERR"
check "P-256 key on the token" stays_inside ec
check "an EC key signs, and neither decrypts nor unwraps" usage_is ec 'sign'

# csr on the token, cert set against the recorded public half
t "csr web, signed on the token" kmc csr web --subject /CN=localhost --san DNS:localhost --out "$T/web.csr"
check "the request's signature verifies" openssl req -in "$T/web.csr" -noout -verify
sign "$T/web.csr" "$T/web.crt"
t "cert set web" kmc cert set web -s "$T/web.crt" -c "$P/ca.crt" --conf "$T/web.conf"
check "the keys folder has no server.key" test ! -e "$V/keys/web/server.key"
check "... but the certificates" test -s "$V/keys/web/server.crt"
check "the config file has no server_key nor server_key_mm entry" \
	bash -c "grep -q server_crt '$T/web.conf' && ! grep -q server_key '$T/web.conf'"
t_err 9 "a certificate of another key: exit 9" "" kmc cert set ec -s "$P/server.crt" -c "$P/ca.crt"
S0=$T/s0
snapshot "$V" >"$S0"
t_err 9 "unwrap web: refused, exit 9, naming the token key" \
	"the key of web lives on a PKCS#11 token \(pkcs11:token=srv;.*object=web.*\).*cannot be unwrapped" \
	kmc unwrap web --out "$T/web.pem"
check "no key file was written" test ! -e "$T/web.pem"
t_err 9 "export web: refused, exit 9" "lives on a PKCS#11 token.*cannot be exported" \
	kmc export web --format pkcs12 --out "$T/web.p12" --password-file "$PINF"
check "nothing changed" same "$S0"

# ---- import --on-token ---------------------------------------------------------------

t "import api --on-token" kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" \
	--name api --conf "$T/api.conf" --on-token "$TOK"
check "the output says the key moved and no server.key is written" \
	grep -q "its key moved to the token: pkcs11:token=srv;.*object=api.*no server.key is written" "$LAST_ERR"
check "the imported key is on the token, sensitive, not extractable" stays_inside api imported
check "no server.key in the keys folder" test ! -e "$V/keys/api/server.key"
check "the config file names the certificates, no key" \
	bash -c "grep -q ca_crt '$T/api.conf' && ! grep -q server_key '$T/api.conf'"
t_err 9 "unwrap api: refused" "cannot be unwrapped" kmc unwrap api --out "$T/api.pem"

# ---- bad input ------------------------------------------------------------------------

N0=$(count_keys)
snapshot "$V" >"$S0"
t_err 7 "a URI naming no token: exit 7, naming it" "no token matching pkcs11:token=nosuch" \
	kmc key gen x --on-token "pkcs11:token=nosuch?module-path=$MOD&pin-source=$PINF"
t_err 3 "a wrong PIN: exit 3, naming the token" "token srv: wrong PIN" \
	kmc key gen x --pin-file "$BAD" --on-token "pkcs11:token=srv?module-path=$MOD"
t_err 8 "a label the token holds already: exit 8" "token srv already has an object with object=web" \
	kmc key gen x --on-token "pkcs11:token=srv;object=web?module-path=$MOD&pin-source=$PINF"
t_err 2 "a type tokens do not get here: exit 2" "keys on a token are rsa2048, rsa3072, p256 or p384" \
	kmc key gen x --type ed25519 --on-token "$TOK"
t_err 2 "--stage with --on-token: exit 2" "--stage with --on-token" \
	kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" --name api \
	--replace --stage --on-token "$TOK"
t_err 8 "key gen of a name the vault holds: exit 8, before the token is touched" "already holds web" \
	kmc key gen web --on-token "$TOK"
check "nothing changed in the vault" same "$S0"
check "nor on the token" test "$(count_keys)" = "$N0"

# A key deleted on the token behind the vault's back.
p11 --delete-object --type privkey --label api >/dev/null
t_err 7 "csr of a key deleted on the token: exit 7, naming token and object" \
	"token srv has no private key object=api id=[0-9a-f]+ \(deleted outside the vault\?\)" \
	kmc csr api --subject /CN=api

done_testing
