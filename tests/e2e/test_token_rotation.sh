#!/usr/bin/env bash
# test_token_rotation.sh - rotating a server key that lives on a PKCS#11
# token (SoftHSM2, made in the test's temp dir): kmc import --replace
# --on-token puts the new key on the token as a new object beside the old
# one, which stays (servers that have not reloaded still use it) until
# kmc rm --old prunes its version; the kmc provider then serves and signs
# with the new key. import --stage --on-token stages a key on the token,
# a second --stage takes the first one's object away, promote makes it
# live and --previous goes back; kmc rm destroys every token key of the
# bundle after the vault's commit, and a token that is away then is
# named, not fatal. Each destruction is in the audit log. A bundle does
# not change where its key lives by a new version.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"

V=$T/vault
P=$T/pki
kmc() { setsid -w "$KMC" --vault "$V" "$@"; }
same() { cmp -s <(snapshot "$V") "$1" || { echo "the vault changed" >&2; false; }; }

keys_are() { [ "$(keys)" = "$1" ] || { echo "the token holds: $(keys)" >&2; false; }; }
n_keys() { p11 --list-objects --type privkey | grep -c '^Private Key Object'; }

PROV=(-provider-path "$KMC_BUILD/provider" -provider kmc -provider default)
printf 'a handshake to sign\n' >"$T/msg"
# serves NAME CERT: the kmc provider's key for NAME has CERT's public
# half, and a signature it makes (on the token) verifies under CERT.
serves() {
	local want got
	want=$(openssl x509 -in "$2" -pubkey -noout) &&
		got=$(openssl pkey "${PROV[@]}" -in "kmc://$V?item=$1" -pubout) &&
		[ "$want" = "$got" ] || { echo "served: ${got:-nothing}" >&2; return 1; }
	rm -f "$T/sig"
	openssl dgst -sha256 "${PROV[@]}" -sign "kmc://$V?item=$1" -out "$T/sig" "$T/msg" &&
		openssl dgst -sha256 -verify <(openssl x509 -in "$2" -pubkey -noout) \
			-signature "$T/sig" "$T/msg" >/dev/null
}

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
for k in k2 k3 k4; do
	"$P/issue.sh" "$T/$k" prime256v1 unused >/dev/null
done
t "a vault" kmc init

# ---- import --replace --on-token ------------------------------------------------------

t "import web --on-token" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name web --on-token "$TOK"
check "the token holds its key, labelled web" keys_are web
check "the provider serves and signs with it" serves web "$P/server.crt"
t "import web --replace --on-token (a new key)" kmc import -c "$P/ca.crt" \
	-s "$T/k2.crt" -k "$T/k2.plain" --name web --replace --on-token "$TOK"
check "the output names the new object: web~ and 8 hex digits" \
	grep -Eq "moved to the token: pkcs11:token=srv;.*object=web%7E[0-9a-f]{8}" "$LAST_ERR"
check "the old object stays beside the new one (servers may still use it)" \
	bash -c '[[ "$1" =~ ^web\ web~[0-9a-f]{8}$ ]]' _ "$(keys)"
NEW2=$(keys | cut -d' ' -f2)
check "the provider now serves and signs with the new key" serves web "$T/k2.crt"
check "the vault keeps the old version of web/key" \
	bash -c "'$KMC' --vault '$V' list | grep -Eq '^web/key +token-key +v2 .*\(\+1 old\)'"
t "rm web --old prunes the old version" kmc rm web --old
check "... and says that it removed the old key from the token" \
	grep -q "removed from the token: pkcs11:token=srv;.*object=web?" "$LAST_ERR"
check "the old object is gone from the token, the new one stays" keys_are "$NEW2"
check "the provider still serves the new key" serves web "$T/k2.crt"
t "rm web --old again: nothing on the token to remove" kmc rm web --old
check "... and no removal is said" bash -c "! grep -q 'from the token' '$LAST_ERR'"
check "the new key stays" keys_are "$NEW2"

# ---- stage and promote ----------------------------------------------------------------

t "import web --stage --on-token" kmc import -c "$P/ca.crt" -s "$T/k3.crt" \
	-k "$T/k3.plain" --name web --stage --on-token "$TOK"
check "the output says the staged key moved to the token" grep -q "its key moved to the token" "$LAST_ERR"
check "the staged key is on the token beside the live one" test "$(n_keys)" = 2
check "nothing serves it yet: the provider serves the live key" serves web "$T/k2.crt"
t "import web --stage --on-token again (another key)" kmc import -c "$P/ca.crt" \
	-s "$T/k4.crt" -k "$T/k4.plain" --name web --stage --on-token "$TOK"
check "the first staged key is removed from the token, and the output says so" \
	grep -q "removed from the token: pkcs11:token=srv;.*object=web%7E" "$LAST_ERR"
check "the token holds the live key and the new staged one" test "$(n_keys)" = 2
t "promote web" kmc promote web
check "the provider serves and signs with the promoted key" serves web "$T/k4.crt"
check "the key it replaced stays on the token (the previous version)" test "$(n_keys)" = 2
check "the keys folder has no server.key" test ! -e "$V/keys/web/server.key"
t "promote web --previous" kmc promote web --previous
check "the provider serves the previous key again" serves web "$T/k2.crt"
t "cert renew web (the same key on the token, a new certificate)" \
	kmc cert renew web -s "$T/k2.crt"
check "the renewed bundle still serves its key" serves web "$T/k2.crt"
check "the promoted key stays on the token while an old version names it" \
	test "$(n_keys)" = 2
t "rm web --old" kmc rm web --old
check "the key of the old versions is removed from the token, and named" \
	grep -q "removed from the token: pkcs11:token=srv;.*object=web%7E" "$LAST_ERR"
check "the live key stays" keys_are "$NEW2"
check "the bundle still serves it" serves web "$T/k2.crt"

# ---- a bundle keeps its key where it is -------------------------------------------------

S0=$T/s0
snapshot "$V" >"$S0"
t_err 9 "a new version of web without --on-token: exit 9, naming where its key is" \
	"the key of web lives on a token: its new version goes to a token too" \
	kmc import -c "$P/ca.crt" -s "$T/k3.crt" -k "$T/k3.plain" --name web --replace
check "nothing changed in the vault" same "$S0"
check "nor on the token" keys_are "$NEW2"

# ---- rm -----------------------------------------------------------------------------------

t "import api --on-token, and stage another key for it" kmc import -c "$P/ca.crt" \
	-s "$T/k3.crt" -k "$T/k3.plain" --name api --on-token "$TOK"
t "import api --stage --on-token" kmc import -c "$P/ca.crt" -s "$T/k4.crt" \
	-k "$T/k4.plain" --name api --stage --on-token "$TOK"
check "the token holds web's key and api's two" test "$(n_keys)" = 3
t "rm api" kmc rm api
check "api's live and staged keys are removed from the token, each named" \
	test "$(grep -c 'removed from the token: pkcs11:token=srv;.*object=api' "$LAST_ERR")" = 2
check "web's key stays" keys_are "$NEW2"
t "rm web with the token away: the items go, exit 0" env SOFTHSM2_CONF="$T/away.conf" \
	setsid -w "$KMC" --vault "$V" rm web
check "... and the key left on the token is named with the reason and the way out" \
	grep -q "could not remove from the token: pkcs11:token=srv;.*object=web%7E.*no token matching.*remove it with the token's tools" "$LAST_ERR"
check "web is gone from the vault" bash -c "! '$KMC' --vault '$V' list | grep -q '^web'"
check "its key is still on the token" keys_are "$NEW2"

# ---- the audit log --------------------------------------------------------------------------

t "kmc audit" bash -c "'$KMC' --vault '$V' audit >'$T/audit.txt'"
check "it records each key destroyed on the token, with the item that named it" \
	test "$(grep -c 'token key destroyed: [a-z]*/.*key v[1-9][0-9]* -> ok' "$T/audit.txt")" = 5
check "... and the one that could not be" \
	grep -q "token key destroyed: web/key v[1-9][0-9]* -> .*no token matching" "$T/audit.txt"
t "kmc audit verify" kmc audit verify

done_testing
