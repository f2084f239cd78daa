#!/usr/bin/env bash
# test_keygen.sh - keys born in the vault: kmc key gen makes a key of each
# type inside the vault, kmc csr asks for its certificate with the subject
# and SANs given, an outside CA (openssl) signs it, kmc cert set attaches
# it and publishes the bundle as an import would; a TLS client then
# connects to examples/tls_server serving it. Before its certificate the
# bundle is named by every reader ("no certificate yet") and refused by
# ref, renew, crl update and the server. Every refusal names the option,
# item or file, exits with its code and changes nothing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
P=$T/pki
O=$T/other
kmc() { "$KMC" --vault "$V" "$@"; }

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
MKPKI_CA_CN="other CA" "$KMC_TOP/tools/mkpki.sh" "$O" >/dev/null
t "a vault" kmc init

# sign CSR OUT [PKI]: the CA of PKI (default $P) signs CSR for 30 days,
# copying its SANs, as an outside CA would.
sign() {
	(cd "${3:-$P}" && openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -copy_extensions copy -out "$2") >/dev/null 2>&1
}
same() { cmp -s <(snapshot "$V") "$1" || { echo "the vault changed" >&2; false; }; }
# req_text CSR: the request as openssl prints it, its signature checked.
req_text() { openssl req -in "$1" -noout -text -verify 2>&1; }

# ---- key gen -----------------------------------------------------------------

t "key gen web (the default type)" kmc key gen web
check "it says what it made and what comes next" \
	grep -q "made a p256 key web in .*kmc csr web" "$LAST_ERR"
kmc list --json >"$T/list.json"
check "the bundle holds web (password), web/key (private-key), web/meta (bundle)" \
	jq -e '[.[] | select(.name | startswith("web")) | "\(.name):\(.type)"] ==
		["web:password", "web/key:private-key", "web/meta:bundle"]' "$T/list.json"
t_out "web's password is 32 characters" 32 \
	bash -c "\"$KMC\" --vault \"$V\" password get web | tr -d '\n' | wc -c"
check "no keys folder is made before the certificate" test ! -e "$V/keys/web"
S0=$T/s0
snapshot "$V" >"$S0"

t_err 8 "key gen of a name that exists: exit 8, naming it" "already holds web" \
	kmc key gen web
check "... and nothing changed" same "$S0"
secret_file "$T/db.pw" 'pw-of-db'
t "password set db" kmc password set db --password-file "$T/db.pw"
snapshot "$V" >"$S0"
t_err 8 "key gen over a password item: exit 8" "already holds db" kmc key gen db
t_err 2 "an unknown key type: exit 2, naming --type and the types" \
	"--type: unknown key type 'rsa1024'.*rsa2048, rsa3072, rsa4096, p256, p384 and ed25519" \
	kmc key gen x --type rsa1024
t_err 2 "a type in capitals is unknown too" "unknown key type 'P256'" \
	kmc key gen x --type P256
t_err 2 "a name kept for trust stores: exit 2" "kept for trust stores and CAs" \
	kmc key gen trust:x
t_err 2 "a name kept for CAs: exit 2" "kept for trust stores and CAs" kmc key gen ca:x
t_err 2 "a bad name: exit 2" 'bundle name "a b"' kmc key gen 'a b'
# A bundle NAME owns NAME/key, NAME/meta, NAME/.s/...: a bundle named
# x/meta would hold item x/meta, and kmc rm x would take it.
t_err 2 "a name ending in a bundle's part (x/meta): exit 2" \
	'bundle name "x/meta": x/meta would be a part of a bundle named x' kmc key gen x/meta
t_err 2 "a name ending /key: exit 2" 'bundle name "x/key"' kmc key gen x/key
t_err 2 "a name with a part beginning '.' (a version slot): exit 2" \
	'bundle name "x/.s"' kmc key gen x/.s
t_err 2 "key gen needs a NAME" "" kmc key gen
check "... and none of them changed anything" same "$S0"
t "a name with such a word inside is taken (x/key/a)" kmc key gen x/key/a
t "kmc rm x/key/a" kmc rm x/key/a

# Each type: the key the CSR carries is of that type and size.
for spec in "p384:id-ecPublicKey:384" "ed25519:ED25519:" "rsa2048:rsaEncryption:2048"; do
	IFS=: read -r ty alg bits <<<"$spec"
	t "key gen k-$ty --type $ty" kmc key gen "k-$ty" --type "$ty"
	t "csr k-$ty" kmc csr "k-$ty" --subject "/CN=$ty.example" --out "$T/$ty.csr"
	req_text "$T/$ty.csr" >"$T/$ty.txt"
	check "the $ty CSR verifies and carries a $alg key${bits:+ of $bits bits}" \
		eval "grep -q 'verify OK' '$T/$ty.txt' && grep -q 'Public Key Algorithm: $alg' '$T/$ty.txt' &&
			{ [ -z '$bits' ] || grep -q 'Public-Key: ($bits bit)' '$T/$ty.txt'; }"
done
check "P-384 signs with SHA-384" grep -q "ecdsa-with-SHA384" "$T/p384.txt"
t "key gen k2 (a second p256 key)" kmc key gen k2
t "csr k2" kmc csr k2 --subject /CN=k2 --out "$T/k2.csr"
t "csr web" kmc csr web --subject /CN=k2 --out "$T/web-as-k2.csr"
check "two keys are never the same key" \
	eval '! cmp -s <(openssl req -in "$T/k2.csr" -noout -pubkey) <(openssl req -in "$T/web-as-k2.csr" -noout -pubkey)'

# ---- before the certificate: readers say so, servers refuse --------------------

snapshot "$V" >"$S0"
t_out "cert info web: no certificate yet" \
	"web: no certificate yet (kmc csr web, then kmc cert set web -s SIGNED.crt)" \
	kmc cert info web
t_out "cert info --json web: an empty list" "[]" kmc cert info --json web
kmc cert info >"$T/all.txt" 2>&1
check "cert info (every bundle) lists web as having no certificate yet, exit 0" \
	grep -A1 -x "bundle web" "$T/all.txt"
check "... on the line after it" grep -q "^  no certificate yet (kmc csr web" "$T/all.txt"
kmc cert info --json >"$T/all.json"
check "cert info --json: web with no certificates" \
	jq -e '.bundles[] | select(.name == "web") | .certificates == []' "$T/all.json"
t "cert check: nothing is due, exit 0" kmc cert check
check "status exits 0 and tells of no damaged bundle" \
	eval 'kmc status >"$T/status.txt" && ! grep -q "not checked" "$T/status.txt"'
t_err 7 "ref web: exit 7, no certificate yet" "ref: web has no certificate yet" \
	kmc ref web --uri
t_err 7 "cert renew web: exit 7, pointing to cert set" \
	"no certificate yet to renew: kmc cert set web" kmc cert renew web -s "$P/server.crt"
t_err 7 "crl update web: exit 7, pointing to cert set" \
	"no certificate yet: kmc cert set web" kmc crl update web -r "$P/ca.crl"
t "backup takes it" kmc backup --out "$T/bk1"
check "... and nothing changed" same "$S0"

# The server: kmc_ssl_ctx_use refuses it with a clear message.
t_err 1 "examples/tls_server refuses a bundle without a certificate" \
	"web has no certificate yet" timeout 20 "$KMC_BUILD/examples/tls_server" \
	--vault "$V" --name web --max-connections 1

# ---- csr ----------------------------------------------------------------------

t "csr web with a subject and SANs, to stdout" \
	kmc csr web --subject '/C=DE/O=Acme\/Ops/CN=web.example' \
	--san 'DNS:web.example, dns:*.web.example,IP:127.0.0.1,IP:::1,email:ops@web.example,URI:https://web.example/'
cp "$OUT" "$T/web.csr"
req_text "$T/web.csr" >"$T/web.txt"
check "the CSR's signature verifies" grep -q "verify OK" "$T/web.txt"
check "its subject is as given, the escaped slash a slash" \
	grep -q "Subject: C = DE, O = Acme/Ops, CN = web.example" "$T/web.txt"
check "it asks for every SAN given" grep -q \
	"DNS:web.example, DNS:\*.web.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, email:ops@web.example, URI:https://web.example/" \
	"$T/web.txt"
check "its key is web's (ecdsa-with-SHA256)" grep -q "ecdsa-with-SHA256" "$T/web.txt"
t "csr web --out FILE" kmc csr web --subject /CN=localhost --san DNS:localhost,IP:127.0.0.1 --out "$T/req.csr"
check "the file is 0644 and a CSR" eval '[ "$(stat -c %a "$T/req.csr")" = 644 ] && grep -q "BEGIN CERTIFICATE REQUEST" "$T/req.csr"'
cp "$T/req.csr" "$T/req.keep"
t_err 8 "csr --out never overwrites: exit 8" "" kmc csr web --subject /CN=x --out "$T/req.csr"
check "... the file is as it was" cmp "$T/req.csr" "$T/req.keep"

snapshot "$V" >"$S0"
bad_subject() { # bad_subject DESC REGEX SUBJECT
	t_err 2 "csr, $1: exit 2, naming --subject" "--subject: .*$2" kmc csr web --subject "$3"
}
bad_subject "no leading slash" "'CN=x' does not start with '/'" "CN=x"
bad_subject "an empty part" "an empty part" "/CN=x//O=y"
bad_subject "a part without =" "part 'CN' has no '='" "/CN"
bad_subject "an empty value" "part 'O=' has an empty value" "/CN=x/O="
bad_subject "an unknown attribute" "unknown attribute 'FOO'" "/FOO=bar"
bad_subject "a multi-valued part" "multi-valued" "/CN=a+O=b"
bad_subject "a country of three letters" "X.520" "/C=DEU/CN=x"
bad_subject "a CN of 65 characters" "X.520" "/CN=$(printf 'a%.0s' {1..65})"
bad_subject "a country of one letter, with C's bounds" "X.520 allows for C \\(exactly 2 characters\\)" "/C=D"
bad_subject "an L of 129 characters, with L's bounds" "for L \\(1 to 128 characters\\)" "/L=$(printf 'a%.0s' {1..129})"
bad_subject "a title of 65 characters (X.520's ub-title)" "for title \\(1 to 64 characters\\)" "/title=$(printf 'a%.0s' {1..65})"
bad_subject "a postalCode of 41 characters" "for postalCode \\(1 to 40 characters\\)" "/postalCode=$(printf '1%.0s' {1..41})"
# The message is printed escaped (a backslash shows as two): it says
# what to type in words, not as a \\+ that would be refused again.
bad_subject "a bare '+', saying to put a backslash before it" "put a backslash before it" "/CN=a+b"
check "... and not showing \\\\+ to type" eval '! grep -qF "\\\\+" "$LAST_ERR"'
bad_subject "a lone backslash at the end" "ends in a backslash that escapes nothing" '/CN=a\'
bad_subject "an e-mail address not ASCII, told ASCII (not printable only: '@' is no PrintableString character)" \
	"part 'emailAddress=\?\?@x': emailAddress takes ASCII only" "/emailAddress=$(printf '\xc3\xbc')@x"
bad_subject "a control character, shown as ?" "part 'CN=a\?b'" "/CN=a$(printf '\t')b"
bad_subject "over 1024 bytes" "longer than 1024 bytes" "/OU=$(printf 'a%.0s' {1..1100})"
bad_san() { # bad_san DESC REGEX SAN
	t_err 2 "csr, $1: exit 2, naming --san" "--san: .*$2" kmc csr web --subject /CN=x --san "$3"
}
bad_san "an unknown type" "entry 'RID:1.2' is not TYPE:value" "RID:1.2"
bad_san "an empty entry" "an empty entry" "DNS:a,,DNS:b"
bad_san "a bad host name" "entry 'DNS:a_b' is not a host name" "DNS:a_b"
bad_san "a bad IP" "entry 'IP:1.2.3' is not an IPv4 or IPv6" "IP:1.2.3"
bad_san "a bad e-mail" "entry 'email:x' is not an e-mail" "email:x"
bad_san "a URI without a scheme" "entry 'URI:nowhere' is not a URI" "URI:nowhere"
bad_san "a name given twice" "entry 'DNS:a' is given twice" "DNS:a,IP:::1,DNS:a"
bad_san "a host name given twice in two cases" "entry 'DNS:WEB.example' is given twice" "DNS:web.example,DNS:WEB.example"
bad_san "an address written as DNS:" "is an address.*write IP:192.0.2.7" "DNS:192.0.2.7"
bad_san "a host name whose last label is digits" "digits only" "DNS:web.123"
t_err 2 "csr without --subject: exit 2" "csr needs --subject" kmc csr web
t_err 7 "csr of a name with no key: exit 7" "holds no key nope" kmc csr nope --subject /CN=x
check "no refused csr wrote a file or changed the vault" \
	eval 'same "$S0" && [ "$(ls "$T"/*.csr | wc -l)" = 7 ]'
t "a title of 64 characters, UTF-8, is taken" kmc csr web --subject "/title=$(printf '\xc3\xa9%.0s' {1..64})" --out "$T/title.csr"

# ---- cert set -----------------------------------------------------------------

check "the outside CA signs the CSR" sign "$T/req.csr" "$T/web.crt"
check "another CA signs it too" sign "$T/req.csr" "$T/web-other.crt" "$O"
check "the CA signs k2's CSR (another key)" sign "$T/k2.csr" "$T/k2.crt"
snapshot "$V" >"$S0"
t_err 9 "cert set with another key's certificate: exit 9" "key" \
	kmc cert set web -s "$T/k2.crt" -c "$P/ca.crt"
t_err 9 "cert set with the CA that did not sign it: exit 9" "" \
	kmc cert set web -s "$T/web-other.crt" -c "$P/ca.crt"
t_err 2 "cert set of a CA-signed certificate without -c: exit 2, naming the issuer" \
	"is issued by CN=kmc test CA: give that CA's certificate with -c" \
	kmc cert set web -s "$T/web.crt"
t_err 2 "cert set of a file that is no certificate: exit 2, naming it" "$T/req.csr" \
	kmc cert set web -s "$T/req.csr" -c "$P/ca.crt"
t_err 7 "cert set of a name with no key: exit 7" "holds no key nope" \
	kmc cert set nope -s "$T/web.crt" -c "$P/ca.crt"
t_err 7 "cert set of a trust store that does not exist: exit 7" "" \
	kmc cert set web -s "$T/web.crt" -c "$P/ca.crt" --trust nostore
t_err 2 "cert set without -s: exit 2" "cert set needs -s" kmc cert set web
check "... and none of them changed anything" same "$S0"
check "... nor made the keys folder" test ! -e "$V/keys/web"

# Revoked by the CRL given, and out of its dates: refused as an import
# refuses them.
t "key gen rv" kmc key gen rv
t "csr rv" kmc csr rv --subject /CN=localhost --out "$T/rv.csr"
PR=$T/pki-revoking
cp -a "$P" "$PR"
echo 'unique_subject = no' >"$PR/index.txt.attr"
check "the CA signs rv's CSR twice: one current, one expired in 2020" eval '(cd "$PR" &&
	openssl ca -batch -config ca.cnf -in "$T/rv.csr" -days 10 -extensions server \
		-out "$T/rv.crt" -notext &&
	openssl ca -batch -config ca.cnf -in "$T/rv.csr" -startdate 20200101000000Z \
		-enddate 20200201000000Z -extensions server -out "$T/rv-old.crt" -notext) >/dev/null 2>&1'
check "... and revokes the current one in its CRL" bash "$PR/crl.sh" "$T/rv.crt"
snapshot "$V" >"$S0"
t_err 9 "cert set with a CRL that revokes the certificate: exit 9" "revoked" \
	kmc cert set rv -s "$T/rv.crt" -c "$P/ca.crt" -r "$PR/ca.crl"
t_err 9 "cert set of an expired certificate: exit 9, naming it" "rv-old.crt.*expired" \
	kmc cert set rv -s "$T/rv-old.crt" -c "$P/ca.crt"
check "... and neither changed anything" same "$S0"
t_out "rv is still a key without a certificate" \
	"rv: no certificate yet (kmc csr rv, then kmc cert set rv -s SIGNED.crt)" kmc cert info rv

CONF=$T/app.conf
printf 'port = 443\n' >"$CONF"
t "cert set web -s -c --conf" kmc cert set web -s "$T/web.crt" -c "$P/ca.crt" --conf "$CONF"
check "it says what web serves now" grep -q "web now serves certificate CN=localhost" "$LAST_ERR"
KD=$V/keys/web
check "the keys folder holds ca.crt, server.crt, server.key, 0400" \
	eval '[ "$(cd "$KD" && stat -c "%n %a" ca.crt server.crt server.key | tr "\n" " ")" = "ca.crt 400 server.crt 400 server.key 400 " ]'
check "server.crt is the certificate the CA signed" \
	cmp <(openssl x509 -in "$KD/server.crt" -outform DER) <(openssl x509 -in "$T/web.crt" -outform DER)
check "server.key is encrypted" grep -q "BEGIN ENCRYPTED $PEM_PK" "$KD/server.key"
kmc password get web >"$T/web.pw"
check "web's password opens it, and it is the key of the certificate" \
	cmp <(openssl pkey -in "$KD/server.key" -passin "file:$T/web.pw" -pubout) \
		<(openssl x509 -in "$T/web.crt" -noout -pubkey)
# web's password is what servers are given (password get) to open
# server.key: a new one alone would leave the copy unreadable with it.
secret_file "$T/other.pw" 'some-other-password'
snapshot "$V" >"$S0"
t_err 8 "password set over a bundle's password: exit 8, saying why" \
	"item web is bundle web's password, which its key's keys-folder copy is encrypted under" \
	kmc password set web --password-file "$T/other.pw"
secret_file "$T/batch.txt" "$(printf 'fresh-item pw-one\nweb pw-two')"
t_err 8 "... and so in a batch, naming the line, nothing stored" "line 2: item web is bundle web's password" \
	kmc password set --batch "$T/batch.txt"
check "... and nothing changed" same "$S0"
check "... web's password still opens server.key" \
	eval 'kmc password get web | cmp - "$T/web.pw" && openssl pkey -in "$KD/server.key" -passin "file:$T/web.pw" -noout'
check "the config file names the copies and keeps its own line" \
	eval 'grep -qx "port = 443" "$CONF" && grep -qx "server_crt = $KD/server.crt" "$CONF" &&
		grep -qx "server_key = $KD/server.key" "$CONF" && grep -q "^server_key_mm = kmc:v1:" "$CONF"'
kmc cert info web >"$T/info.txt"
check "cert info shows the certificate" grep -q "subject     CN=localhost" "$T/info.txt"
t "ref web --uri now works" kmc ref web --uri
t_err 8 "cert set again: exit 8, pointing to cert renew" \
	"web has a certificate already; kmc cert renew web" \
	kmc cert set web -s "$T/web.crt" -c "$P/ca.crt"

# A TLS client reaches the server that serves it.
"$KMC_BUILD/examples/tls_server" --vault "$V" --name web --max-connections 1 \
	>"$T/srv.out" 2>"$T/srv.err" &
SRV=$!
port=""
for _ in $(seq 100); do
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/srv.out")
	[ -n "$port" ] && break
	sleep 0.1
done
check "examples/tls_server serves the bundle" test -n "$port"
echo | timeout 20 openssl s_client -connect "127.0.0.1:${port:-1}" -CAfile "$P/ca.crt" \
	-verify_return_error -verify_hostname localhost -cert "$P/client.crt" \
	-key "$P/client.key" -quiet >"$T/cli.out" 2>"$T/cli.err"
check "a client verifying localhost against the CA gets its greeting" \
	grep -q "^hello " "$T/cli.out"
wait "$SRV" 2>/dev/null

# A self-signed certificate of its own key needs no -c.
t "key gen self" kmc key gen self
kmc unwrap self 2>/dev/null | openssl req -new -x509 -key /dev/stdin -subj /CN=self \
	-days 10 -out "$T/self.crt" 2>/dev/null
t "cert set self -s SELF-SIGNED (no -c): its own CA" kmc cert set self -s "$T/self.crt"
check "its ca.crt is the certificate itself" cmp "$V/keys/self/ca.crt" "$V/keys/self/server.crt"
t "cert renew web afterwards takes a new certificate of the same key" \
	kmc cert renew web -s "$T/web.crt"

# A trust store named before the certificate stays named after it.
t "trust add the other CA to store clients" kmc trust add other "$O/ca.crt" --store clients
t "key gen tr" kmc key gen tr
t "cert set-trust tr clients, before its certificate" kmc cert set-trust tr clients
t "csr tr" kmc csr tr --subject /CN=localhost --out "$T/tr.csr"
check "the CA signs it" sign "$T/tr.csr" "$T/tr.crt"
t "cert set tr (no --trust)" kmc cert set tr -s "$T/tr.crt" -c "$P/ca.crt"
t_out "tr names the trust store clients" clients \
	bash -c "\"$KMC\" --vault \"$V\" cert info --json tr | jq -r '.[0].trustStore'"

# A version staged over a key without a certificate: promote makes it live.
t "key gen st" kmc key gen st
t "import --stage a bundle over st" kmc import --stage --name st -c "$P/ca.crt" \
	-s "$P/server.crt" -k "$P/server.plain.key"
t "promote st" kmc promote st
check "st serves the staged certificate" \
	cmp <(openssl x509 -in "$V/keys/st/server.crt" -outform DER) \
		<(openssl x509 -in "$P/server.crt" -outform DER)

t "rm k2 removes a bundle without a certificate" kmc rm k2
check "... all of it" eval '! kmc list | grep -q "^k2"'

done_testing
