#!/usr/bin/env bash
# test_ca.sh - a CA born in the vault: kmc ca init, cert issue (--server,
# --client, --self-signed), ca revoke, ca crl, ca list.
#   - what it issues passes openssl verify -x509_strict against the CA,
#     a server's -purpose sslserver too, and a client's does not; the
#     extensions are those a CA and a leaf need; serials are random and
#     unique; the bundle is an import's (keys folder, cert info, unwrap,
#     crl update, rm);
#   - revocations and CRLs: by serial or bundle name, CRL numbers that
#     grow, also across a restore of an older backup (and on a clock set
#     back, with a warning), a CRL openssl
#     checks revocation with and kmc crl update takes;
#   - bad input (subject, SAN, days, key type, names, a CA that is not
#     one or has no key, unknown serials, an existing CRL file) is
#     refused with its exit code, naming the option or item, and nothing
#     changes.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"
trap 'stop_all; rm -rf "$T"' EXIT

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
# kmc_to FILE ARGS...: kmc ARGS, its standard output kept in FILE.
kmc_to() { local f=$1; shift; kmc "$@" >"$f"; }
not() { ! "$@" 2>/dev/null; }
K=$V/keys

t "init a vault" kmc init

# ---- ca init ------------------------------------------------------------------

t "ca init root (p256, the default)" kmc ca init root --subject "/CN=Test Root CA/O=Example"
t "ca init rsa (rsa2048, 30 days)" kmc ca init rsa --subject "/CN=RSA CA" --type rsa2048 --days 30
kmc list >"$T/list.before" 2>&1

# nothing_changed: kmc list as it was before the refusals.
nothing_changed() { kmc list >"$T/list.now" 2>&1 && cmp -s "$T/list.before" "$T/list.now"; }

t_err 8 "ca init of a CA that exists is refused" "already holds CA root" \
	kmc ca init root --subject /CN=again
t_err 2 "ca init with a malformed subject names --subject" "subject" \
	kmc ca init bad --subject "CN=no slash"
t_err 2 "ca init with an unknown attribute names it" "subject" \
	kmc ca init bad --subject "/XX=what"
t_err 2 "ca init --days 0 is refused, naming --days" "--days 0" \
	kmc ca init bad --subject /CN=x --days 0
t_err 2 "ca init --days -5 is refused, naming --days" "--days -5" \
	kmc ca init bad --subject /CN=x --days -5
t_err 2 "ca init --days past 9999-12-31 is refused" "9999-12-31" \
	kmc ca init bad --subject /CN=x --days 3000000
t_err 2 "ca init --days that is no number is a usage error" "--days ten" \
	kmc ca init bad --subject /CN=x --days ten
t_err 2 "ca init --type rsa1024 is refused, naming --type" "--type" \
	kmc ca init bad --subject /CN=x --type rsa1024
t_err 2 "a CA name with a slash is refused" "CA name" \
	kmc ca init a/b --subject /CN=x
t_err 2 "ca init without --subject is a usage error" "--subject" \
	kmc ca init bad
check "the refusals changed nothing" nothing_changed

t "ca list shows both CAs" kmc_to "$T/o" ca list
check "ca list names root and rsa" \
	bash -c "grep -q 'CA root:.*0 issued' '$T/o' && grep -q 'CA rsa:.*0 issued' '$T/o'"
t "ca list --json" kmc_to "$T/o" ca list root --json
check "... one JSON array" jq -e 'type == "array" and length == 1' "$T/o"
# ca_list_fails CODE ARGS: kmc ca ARGS exits CODE, standard output empty.
ca_list_fails() {
	local code=$1 rc
	shift
	kmc ca list "$@" >"$T/o.bad" 2>/dev/null
	rc=$?
	[ "$rc" = "$code" ] && [ ! -s "$T/o.bad" ] ||
		{ echo "exit $rc, stdout: $(cat -v "$T/o.bad")" >&2; false; }
}
check "ca list nosuch --json: exit 7, no partial JSON on standard output" \
	ca_list_fails 7 nosuch --json
check "ca list --json: root, its next CRL number 1, no certificate yet" \
	grep -q '^\[{"ca":"root","has_key":true,"next_crl":1,"issued":0,"revoked":0,' "$T/o"
check "kmc list shows the CA's record as type ca" \
	grep -Eq '^ca:root +ca ' "$T/list.before"

# The CA's certificate: CA:TRUE and keyUsage critical, SKI, self-signed.
kmc_item_pem() { "$KMC" --vault "$V" cert info "$1" --json | sed -n 's/.*"pem":"\([^"]*\)".*/\1/p' | sed 's/\\u000a/\n/g'; }
kmc_item_pem ca:root/cert >"$T/root.pem"
check "the CA's certificate reads" openssl x509 -in "$T/root.pem" -noout
openssl x509 -in "$T/root.pem" -noout -text >"$T/root.txt" 2>&1
check "the CA: basicConstraints critical, CA:TRUE" \
	grep -A1 -q "Basic Constraints: critical" "$T/root.txt"
check "the CA: keyUsage critical, Certificate Sign and CRL Sign" \
	bash -c "grep -A1 'Key Usage: critical' '$T/root.txt' | grep -q 'Certificate Sign, CRL Sign'"
check "the CA: a subject key identifier" grep -q "Subject Key Identifier" "$T/root.txt"
check "the CA: P-256, signed with SHA-256" grep -q "ecdsa-with-SHA256" "$T/root.txt"
check "the CA verifies against itself, -x509_strict" \
	openssl verify -x509_strict -CAfile "$T/root.pem" "$T/root.pem"
kmc_item_pem ca:rsa/cert >"$T/rsa.pem"
check "the rsa CA has an RSA 2048 key" \
	bash -c "openssl x509 -in '$T/rsa.pem' -noout -text | grep -q 'Public-Key: (2048 bit)'"

# ---- cert issue ---------------------------------------------------------------

t "cert issue db --server (CN=localhost, no --san)" \
	kmc cert issue db --ca root --server --subject /CN=localhost
check "it says the serial" grep -Eq "serial [0-9A-F]{40}" "$LAST_ERR"
t "cert issue app --client (CN=app_user)" \
	kmc cert issue app --ca root --client --subject /CN=app_user
t "cert issue web --server with SANs, p384, 30 days" \
	kmc cert issue web --ca root --server --subject "/CN=web.example.com/O=Example" \
	--san "DNS:web.example.com,DNS:www.example.com,IP:127.0.0.1,IP:::1" --type p384 --days 30
t "cert issue test --self-signed --server" \
	kmc cert issue test --self-signed --server --subject /CN=localhost
t "cert issue r1 from the RSA CA, an RSA 3072 key" \
	kmc cert issue r1 --ca rsa --server --subject /CN=r1.example --type rsa3072 --days 10

for b in db app web test r1; do
	check "$b: the keys folder holds ca.crt, server.crt, server.key, each 0400" \
		test "$(stat -c %a "$K/$b/ca.crt" "$K/$b/server.crt" "$K/$b/server.key" | sort -u)" = 400
done
check "db: its ca.crt is the CA's certificate" cmp -s <(openssl x509 -in "$K/db/ca.crt") <(openssl x509 -in "$T/root.pem")
check "db passes openssl verify -x509_strict against the CA" \
	openssl verify -x509_strict -CAfile "$K/db/ca.crt" "$K/db/server.crt"
check "db passes openssl verify -x509_strict -purpose sslserver" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$K/db/ca.crt" "$K/db/server.crt"
check "web passes -x509_strict -purpose sslserver" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$K/web/ca.crt" "$K/web/server.crt"
check "r1 passes -x509_strict -purpose sslserver against the RSA CA" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$K/r1/ca.crt" "$K/r1/server.crt"
check "app passes -x509_strict -purpose sslclient" \
	openssl verify -x509_strict -purpose sslclient -CAfile "$K/app/ca.crt" "$K/app/server.crt"
check "app, a client certificate, fails -purpose sslserver" \
	not openssl verify -x509_strict -purpose sslserver -CAfile "$K/app/ca.crt" "$K/app/server.crt"
check "the self-signed test passes -x509_strict -purpose sslserver against itself" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$K/test/ca.crt" "$K/test/server.crt"
check "db does not verify against the RSA CA" \
	not openssl verify -CAfile "$T/rsa.pem" "$K/db/server.crt"

openssl x509 -in "$K/db/server.crt" -noout -text >"$T/db.txt"
openssl x509 -in "$K/app/server.crt" -noout -text >"$T/app.txt"
openssl x509 -in "$K/web/server.crt" -noout -text >"$T/web.txt"
check "db: CA:FALSE" grep -q "CA:FALSE" "$T/db.txt"
check "db: EKU serverAuth only" \
	bash -c "grep -A1 'Extended Key Usage' '$T/db.txt' | tail -1 | grep -qx ' *TLS Web Server Authentication'"
check "app: EKU clientAuth only" \
	bash -c "grep -A1 'Extended Key Usage' '$T/app.txt' | tail -1 | grep -qx ' *TLS Web Client Authentication'"
check "db: a subject key identifier" grep -q "Subject Key Identifier" "$T/db.txt"
check "db: its authority key identifier is the CA's subject key identifier" \
	test "$(grep -A1 'Authority Key Identifier' "$T/db.txt" | tail -1 | tr -d ' ')" = \
	"$(grep -A1 'Subject Key Identifier' "$T/root.txt" | tail -1 | tr -d ' ')"
check "db: its CN as its one SAN, DNS:localhost" \
	bash -c "grep -A1 'Subject Alternative Name' '$T/db.txt' | tail -1 | grep -qx ' *DNS:localhost'"
check "app, a client, gets no SAN of its own" not grep -q "Subject Alternative Name" "$T/app.txt"
# A server's CN that is no host name gives it no name clients check.
t "a server whose CN is no host name, without --san" \
	kmc cert issue noname --self-signed --server --subject "/CN=Billing Server/O=Example"
check "... is issued, and kmc says clients checking names will refuse it" \
	grep -q "noname: the certificate names no host .*--san DNS:HOST" "$LAST_ERR"
t "kmc rm noname" kmc rm noname
t "a server whose CN is a host name, without --san" \
	kmc cert issue named --self-signed --server --subject "/CN=billing.example"
check "... gets no such note" not grep -q "names no host" "$LAST_ERR"
t "kmc rm named" kmc rm named
check "web: the SANs given" \
	bash -c "grep -A1 'Subject Alternative Name' '$T/web.txt' | tail -1 | grep -q 'DNS:web.example.com, DNS:www.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'"
check "web: P-384, signed by the P-256 CA with SHA-256" grep -q "NIST CURVE: P-384" "$T/web.txt"
# Valid from a minute before it was made (a client whose clock runs a
# little behind would refuse it as not valid yet), for 30 days from then.
check "web: valid 30 days, from a minute before it was made" test "$(( $(date -d "$(openssl x509 -in "$K/web/server.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in "$K/web/server.crt" -noout -startdate | cut -d= -f2)" +%s) ))" = $((30 * 86400 + 60))
check "... which a client whose clock is 30 s behind accepts" \
	openssl verify -attime "$(( $(date +%s) - 30 ))" -CAfile "$K/web/ca.crt" "$K/web/server.crt"
serials=$(for b in db app web; do openssl x509 -in "$K/$b/server.crt" -noout -serial; done | sort -u | wc -l)
check "three certificates, three serials" test "$serials" = 3
check "serials are 20 bytes (159 random bits)" \
	bash -c "openssl x509 -in '$K/db/server.crt' -noout -serial | grep -Eqx 'serial=[0-7][0-9A-F]{39}'"

t "cert info db reads the issued bundle" kmc_to "$T/o" cert info db
check "cert info db: the issuer is the CA" grep -q "Test Root CA" "$T/o"
kmc unwrap db --out "$T/db.key" >/dev/null 2>&1
check "the key unwrapped is the certificate's" \
	test "$(openssl pkey -in "$T/db.key" -pubout 2>/dev/null | sha256sum)" = \
	"$(openssl x509 -in "$K/db/server.crt" -noout -pubkey | sha256sum)"
check "the keys folder's key is encrypted under the bundle's password" \
	grep -q "BEGIN ENCRYPTED $PEM_PK" "$K/db/server.key"
t "kmc ca list root shows db, app and web" kmc_to "$T/o" ca list root
check "ca list: db as server, app as client, web" \
	bash -c "grep -Eq ' server .* db$' '$T/o' && grep -Eq ' client .* app$' '$T/o' && grep -Eq ' server .* web$' '$T/o'"

# kmc_ssl_ctx_use takes an issued bundle: examples/tls_server serves db
# to a client of the CA (mutual TLS) and refuses one of another CA.
t "cert issue rcli --client from the RSA CA" \
	kmc cert issue rcli --ca rsa --client --subject /CN=rcli --days 10
kmc unwrap app --out "$T/app.key" >/dev/null 2>&1
kmc unwrap rcli --out "$T/rcli.key" >/dev/null 2>&1
check "examples/tls_server serves the issued bundle db" \
	start_tls_server db --vault "$V" --name db --port 0
# s_client_as CERT KEY: a verify-full handshake with db, a request sent.
s_client_as() {
	echo hello | timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
		-verify_hostname localhost -CAfile "$K/db/ca.crt" -verify_return_error \
		-cert "$1" -key "$2" -ign_eof >"$T/s_client.out" 2>&1
}
check "a client the CA issued (app) completes mutual TLS with db" \
	s_client_as "$K/app/server.crt" "$T/app.key"
check "... verified both ways" grep -q 'Verify return code: 0 (ok)' "$T/s_client.out"
check "a client of another CA (rcli) is refused" \
	not s_client_as "$K/rcli/server.crt" "$T/rcli.key"
stop_all
rm -f "$T/rcli.key"

t "cert issue with --conf writes the config entries" \
	kmc cert issue conf1 --ca root --server --subject /CN=conf1.example --conf "$T/app.conf"
check "the config file names the copies and server_key_mm" \
	bash -c "grep -q '^server_crt = $K/conf1/server.crt' '$T/app.conf' && grep -q '^server_key_mm = kmc:v1:' '$T/app.conf'"

t "trust add rsaca (the RSA CA) --store clients" kmc trust add rsaca "$T/rsa.pem" --store clients
t "cert issue t1 --keys-dir DIR --trust clients" \
	kmc cert issue t1 --ca root --server --subject /CN=t1.example --keys-dir "$T/t1keys" --trust clients
check "t1's copies are in the keys folder given, 0700" \
	bash -c "test \"\$(stat -c %a '$T/t1keys')\" = 700 && test -f '$T/t1keys/server.crt'"
t "cert info t1 --json" kmc_to "$T/o" cert info t1 --json
check "t1 names trust store clients" grep -q '"trustStore":' "$T/o"
check "... with alias rsaca" grep -q 'rsaca' "$T/o"
t_err 7 "cert issue --trust a store that does not exist is refused" "no trust store nostore" \
	kmc cert issue t2 --ca root --server --subject /CN=t2 --trust nostore

t "kmc key gen kg: a key without a certificate" kmc key gen kg
kmc list >"$T/list.before" 2>&1
t_err 8 "cert issue of a bundle that exists is refused" "already holds db" \
	kmc cert issue db --ca root --server --subject /CN=again
t_err 8 "cert issue over a key born without a certificate points to csr and cert set" \
	"a key born without a certificate: kmc csr kg" \
	kmc cert issue kg --ca root --server --subject /CN=again
t_err 2 "cert issue with a malformed SAN names --san" "san" \
	kmc cert issue x --ca root --server --subject /CN=x --san "DNS:bad name"
t_err 2 "cert issue with an unknown SAN type names --san" "san" \
	kmc cert issue x --ca root --server --subject /CN=x --san "RID:1.2.3"
# ::ffff:1.2.3.4 would be stored as 16 bytes, which a client reaching
# 1.2.3.4 compares with its 4 and never matches (openssl x509 -checkip
# 1.2.3.4 says NOT match): refused, naming the IPv4 form to write.
t_err 2 "cert issue with an IPv4-mapped IPv6 SAN is refused, naming IP:1.2.3.4" \
	"IPv4-mapped .*write IP:1\.2\.3\.4\$" \
	kmc cert issue x --ca root --server --subject /CN=x --san "DNS:x,IP:::ffff:1.2.3.4"
t_err 2 "... in hex groups too" "write IP:10\.0\.0\.1\$" \
	kmc cert issue x --ca root --server --subject /CN=x --san "IP:::FFFF:a00:1"
t_err 2 "cert issue with a malformed subject names --subject" "subject" \
	kmc cert issue x --ca root --server --subject "/CN"
t_err 2 "cert issue --days 0 is refused" "--days 0" \
	kmc cert issue x --ca root --server --subject /CN=x --days 0
t_err 2 "cert issue --days -1 is refused" "--days -1" \
	kmc cert issue x --ca root --server --subject /CN=x --days -1
t_err 2 "cert issue past the CA's own end is refused, naming it" "CA rsa" \
	kmc cert issue x --ca rsa --server --subject /CN=x --days 31
t_err 2 "cert issue past 9999-12-31 is refused" "9999-12-31" \
	kmc cert issue x --self-signed --server --subject /CN=x --days 3000000
t_err 2 "cert issue --type dsa is refused, naming --type" "--type" \
	kmc cert issue x --ca root --server --subject /CN=x --type dsa
t_err 2 "cert issue with both --server and --client is a usage error" "--server, --client" \
	kmc cert issue x --ca root --server --client --subject /CN=x
t_err 2 "cert issue with neither --ca nor --self-signed is a usage error" "--self-signed" \
	kmc cert issue x --server --subject /CN=x
t_err 7 "cert issue from a CA that does not exist is refused, naming it" "no CA nosuch" \
	kmc cert issue x --ca nosuch --server --subject /CN=x
t_err 2 "a bundle name beginning ca: is refused" "kept for CAs" \
	kmc cert issue ca:x --ca root --server --subject /CN=x
t_err 2 "kmc import of a bundle named ca:... is refused too" "kept for CAs" \
	kmc import --name ca:x -c "$K/db/ca.crt" -s "$K/db/server.crt" -k "$T/db.key"
t_err 2 "a bundle name that is another bundle's part (x/meta) is refused" \
	'x/meta would be a part of a bundle named x' \
	kmc cert issue x/meta --ca root --server --subject /CN=x
t_err 2 "kmc import of a bundle named x/.p/key is refused too" \
	'x/.p/key would be a part of a bundle named x' \
	kmc import --name x/.p/key -c "$K/db/ca.crt" -s "$K/db/server.crt" -k "$T/db.key"
# The name ca revoke --cert lists certificates under: a bundle of that
# name would be one with them in ca list, and ca revoke CA @cert-file
# would not say which it meant.
t_err 2 "a bundle named @cert-file is refused: ca revoke --cert's name" "kept for" \
	kmc cert issue @cert-file --ca root --server --subject /CN=x
check "the refusals changed nothing" nothing_changed

t "cert issue --days 20000: an end after 2049" \
	kmc cert issue far --self-signed --server --subject /CN=far --days 20000
check "... written as GeneralizedTime (RFC 5280), which openssl reads" \
	bash -c 'openssl asn1parse -in "$1" | grep -q GENERALIZEDTIME &&
		openssl verify -x509_strict -purpose sslserver -CAfile "$1" "$1"' _ "$K/far/server.crt"

# A CA without its key, and one whose certificate is no CA's.
t "ca init nokey" kmc ca init nokey --subject /CN=nokey
t "kmc rm ca:nokey/key" kmc rm ca:nokey/key
t "ca init fake" kmc ca init fake --subject /CN=fake
kmc_cc "$T/item_put" "$KMC_TOP/tests/e2e/item_put.c"
check "ca:fake/cert replaced by a leaf (item_put)" \
	"$T/item_put" "$V" ca:fake/cert certificate "$K/db/server.crt"
kmc list >"$T/list.before" 2>&1
t_err 7 "cert issue from a CA without its key is refused, naming it" "no key in the vault" \
	kmc cert issue x --ca nokey --server --subject /CN=x
t_err 9 "cert issue from a CA whose certificate is no CA's is refused" "not a CA certificate" \
	kmc cert issue x --ca fake --server --subject /CN=x
t_err 7 "ca crl of a CA without its key is refused" "no key" \
	kmc ca crl nokey --out "$T/nokey.crl"
check "no CRL file was written" test ! -e "$T/nokey.crl"
check "the refusals changed nothing" nothing_changed
t "kmc rm ca:nokey removes the CA" kmc rm ca:nokey
kmc list >"$T/list.now" 2>&1
check "... its record and certificate with it" not grep -q "^ca:nokey" "$T/list.now"
check "... and nothing else" \
	test "$(grep -vc '^ca:nokey' "$T/list.before")" = "$(wc -l <"$T/list.now")"

# ---- revoke and CRLs ------------------------------------------------------------

app_serial=$(openssl x509 -in "$K/app/server.crt" -noout -serial | cut -d= -f2)
web_serial=$(openssl x509 -in "$K/web/server.crt" -noout -serial | cut -d= -f2)
t "ca crl root: the first CRL" kmc ca crl root --out "$T/1.crl"
check "it is 0644" test "$(stat -c %a "$T/1.crl")" = 644
# crl_number FILE: the CRL number of FILE, in decimal.
crl_number() {
	local n
	n=$(openssl crl -in "$1" -noout -crlnumber) || return
	n=${n#crlNumber=0x}
	echo $((16#$n))
}
# next_crl CA: the least number CA's next CRL carries, as ca list says.
next_crl() { kmc ca list "$1" --json | jq -r '.[0].next_crl'; }
n1=$(crl_number "$T/1.crl")
check "a CRL number, signed by the CA" \
	bash -c "test -n '$n1' && openssl crl -in '$T/1.crl' -noout -CAfile '$T/root.pem' 2>&1 | grep -q 'verify OK'"
check "the CA's next CRL carries a number above it" test "$(next_crl root)" = $((n1 + 1))
check "the first CRL revokes nothing" bash -c "openssl crl -in '$T/1.crl' -noout -text | grep -q 'No Revoked Certificates'"
check "it has the CA's authority key identifier" \
	bash -c "openssl crl -in '$T/1.crl' -noout -text | grep -q 'Authority Key Identifier'"

kmc list >"$T/list.before" 2>&1
t_err 7 "ca revoke of an unknown serial is refused, naming it" "no certificate with serial 0BADC0DE" \
	kmc ca revoke root 0BADC0DE
t_err 7 "ca revoke of a bundle the CA did not issue is refused" "test" \
	kmc ca revoke root test
t_err 7 "ca revoke of a serial over 20 octets says no serial is that long" \
	"as a serial it has more than the 20 octets" kmc ca revoke root "0x$(printf 'AB%.0s' {1..21})"
t_err 2 "ca revoke of an empty serial or name: exit 2, saying what to give" \
	"an empty serial or name; give the serial" kmc ca revoke root ""
t_err 2 "ca revoke --reason certificateHold is refused, naming --reason" "--reason" \
	kmc ca revoke root app --reason certificateHold
t_err 7 "ca revoke by a CA that does not exist" "no CA nosuch" \
	kmc ca revoke nosuch app
check "the refusals changed nothing" nothing_changed

t "ca revoke root app --reason keyCompromise (by bundle name)" \
	kmc ca revoke root app --reason keyCompromise
check "... naming its serial as ca list prints it" grep -q "revoked 1 certificate (serial $app_serial)" "$LAST_ERR"
t_err 8 "revoking app again is refused" "already revoked" kmc ca revoke root app
colons=$(echo "$web_serial" | sed 's/../&:/g; s/:$//')
t "ca revoke root by serial, with colons, lower case" \
	kmc ca revoke root "$(echo "$colons" | tr 'A-F' 'a-f')" --reason superseded
# Echoed as ca list and cert info print it, not as typed: a log that
# greps for the serial finds the revocation.
check "... naming the serial as ca list prints it, not as typed" \
	grep -q "revoked 1 certificate (serial $web_serial);" "$LAST_ERR"
t_err 8 "revoking web by its serial again is refused" "already revoked" \
	kmc ca revoke root "$web_serial"
t "ca list root --json shows the revocations" kmc_to "$T/o" ca list root --json
check "app: revoked, keyCompromise; web: superseded; db: not" \
	bash -c "grep -q '\"serial\":\"$app_serial\",\"name\":\"app\",\"kind\":\"client\",\"not_after\":\"[^\"]*\",\"revoked\":{\"at\":\"[^\"]*\",\"reason\":\"keyCompromise\"}' '$T/o' &&
		grep -q '\"name\":\"web\",[^}]*\"reason\":\"superseded\"' '$T/o' &&
		grep -q '\"name\":\"db\",[^}]*\"revoked\":null' '$T/o'"

t "ca crl root --days 7: the second CRL" kmc ca crl root --out "$T/2.crl" --days 7
n2=$(crl_number "$T/2.crl")
check "its number is above the first's" test "$n2" -gt "$n1"
openssl crl -in "$T/2.crl" -noout -text >"$T/2.txt"
check "it lists app's serial, for keyCompromise" \
	bash -c "grep -A4 'Serial Number: $app_serial' '$T/2.txt' | grep -q 'Key Compromise'"
check "it lists web's serial, for superseded" grep -q "Serial Number: $web_serial" "$T/2.txt"
check "its next update is 7 days after it was made, its last update a minute before" \
	test "$(( $(date -d "$(openssl crl -in "$T/2.crl" -noout -nextupdate | cut -d= -f2)" +%s) - $(date -d "$(openssl crl -in "$T/2.crl" -noout -lastupdate | cut -d= -f2)" +%s) ))" = $((7 * 86400 + 60))
check "openssl verify -crl_check refuses app now" \
	not openssl verify -x509_strict -crl_check -CAfile "$K/app/ca.crt" -CRLfile "$T/2.crl" "$K/app/server.crt"
check "and still takes db" \
	openssl verify -x509_strict -crl_check -CAfile "$K/db/ca.crt" -CRLfile "$T/2.crl" "$K/db/server.crt"
t "kmc crl update db -r the CA's CRL" kmc crl update db -r "$T/2.crl"
check "db's keys folder has the CRL" cmp -s "$K/db/ca.crl" "$T/2.crl"
t_err 9 "kmc crl update app -r it: the CRL revokes app" "revoked" \
	kmc crl update app -r "$T/2.crl"

kmc list >"$T/list.before" 2>&1
t_err 8 "ca crl over a file that exists is refused" "exists" \
	kmc ca crl root --out "$T/2.crl"
t_err 2 "ca crl --days 0 is refused, asking for 1 day or more" "--days 0: give 1 day or more" \
	kmc ca crl root --out "$T/3.crl" --days 0
check "... not speaking of a certificate, as a CRL is none" eval '! grep -q certificate "$LAST_ERR"'
t_err 2 "ca crl --out '' is refused, naming --out" "--out: an empty file name" \
	kmc ca crl root --out ""
kmc ca list root --json >"$T/crl-before.json" 2>&1
t_err 2 "ca crl --out - is refused: a CRL goes to a file, not standard output" \
	"not standard output" bash -c 'cd "$1" && shift && "$@"' _ "$T" "$KMC" --vault "$V" \
	ca crl root --out -
check "... no file named - was written" test ! -e "$T/-"
check "... and the CA's next CRL number did not move" \
	bash -c '"$2" --vault "$3" ca list root --json 2>&1 | cmp -s - "$1"' _ \
	"$T/crl-before.json" "$KMC" "$V"
check "the refusals changed nothing" nothing_changed
check "no 3.crl was written" test ! -e "$T/3.crl"
check "a refused one used no number" test "$(next_crl root)" = $((n2 + 1))
t "ca crl root: the third CRL" kmc ca crl root --out "$T/3.crl"
check "its number is above the second's" test "$(crl_number "$T/3.crl")" -gt "$n2"

# ---- other key types --------------------------------------------------------------

t "ca init ed (ed25519)" kmc ca init ed --subject "/CN=Ed25519 CA" --type ed25519
t "ca init p3 (p384)" kmc ca init p3 --subject "/CN=P384 CA" --type p384
t "cert issue e1 from ed, an ed25519 key" \
	kmc cert issue e1 --ca ed --server --subject /CN=e1.example --type ed25519 --days 5
t "cert issue p3a from p3, an rsa4096 client" \
	kmc cert issue p3a --ca p3 --client --subject /CN=p3a --type rsa4096 --days 5
check "e1 passes -x509_strict -purpose sslserver against the ed25519 CA" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$K/e1/ca.crt" "$K/e1/server.crt"
check "p3a passes -x509_strict -purpose sslclient against the P-384 CA" \
	openssl verify -x509_strict -purpose sslclient -CAfile "$K/p3a/ca.crt" "$K/p3a/server.crt"
check "the P-384 CA signs with SHA-384" \
	bash -c "openssl x509 -in '$K/p3a/server.crt' -noout -text | grep -q 'ecdsa-with-SHA384'"
t "ca revoke ed e1, ca crl ed" bash -c "'$KMC' --vault '$V' ca revoke ed e1 && '$KMC' --vault '$V' ca crl ed --out '$T/ed.crl'"
check "the ed25519 CA's CRL is signed by it, and revokes e1" \
	not openssl verify -crl_check -CAfile "$K/e1/ca.crt" -CRLfile "$T/ed.crl" "$K/e1/server.crt"
check "... for revocation, not a bad signature" \
	bash -c "openssl verify -crl_check -CAfile '$K/e1/ca.crt' -CRLfile '$T/ed.crl' '$K/e1/server.crt' 2>&1 | grep -q 'certificate revoked'"

# ---- the vault's other commands take what it issued ----------------------------

t "kmc cert check takes the issued bundles" kmc cert check --within 1
t_rc 11 "kmc cert check --within 31: the RSA CA (30 days) is due" kmc_to "$T/o" cert check --within 31
check "... named ca:rsa/cert, as a CA" grep -q "^ca:rsa/cert: ca CN=RSA CA expires" "$T/o"
check "... the root CA (3650 days) is not" not grep -q "^ca:root/" "$T/o"
t "kmc rm db removes the issued bundle" kmc rm db
t "kmc ca list still lists db's serial" kmc_to "$T/o" ca list root
check "db's serial stays in the CA's record" grep -Eq ' server .* db$' "$T/o"
t "cert issue db again: a new serial, the CA's record grows" \
	kmc cert issue db --ca root --server --subject /CN=localhost
t "kmc ca revoke root db revokes both db's" kmc ca revoke root db
check "two certificates revoked" grep -q "revoked 2 certificates" "$LAST_ERR"

# ---- a restore does not make the CA repeat a CRL number --------------------------
# The record, CRL count included, goes back with the vault; a CRL signed
# after the restore must still carry a number above every one published
# before it (RFC 5280 5.2.3), or caches that keep the highest number
# they saw ignore it and the revocations made since.

t "kmc backup" kmc backup --out "$T/bk"
t "ca crl root: a CRL after the backup" kmc ca crl root --out "$T/r1.crl"
t "ca crl root: and another" kmc ca crl root --out "$T/r2.crl"
t "kmc restore the backup" kmc restore "$T/bk"
check "... which says the CA records went back with it, to revoke again" \
	grep -q "the restored vault's CAs ($(kmc ca list --json | jq length), kmc ca list) are as the backup had them.*revoke those again before the next kmc ca crl.*issued after it are unknown" "$LAST_ERR"
check "the restore took the CA's count back" test "$(next_crl root)" -le "$(crl_number "$T/r1.crl")"
t "ca crl root: a CRL after the restore" kmc ca crl root --out "$T/r3.crl"
check "its number is above both published before the restore" \
	test "$(crl_number "$T/r3.crl")" -gt "$(crl_number "$T/r2.crl")"
check "it is signed by the CA" \
	bash -c "openssl crl -in '$T/r3.crl' -noout -CAfile '$T/root.pem' 2>&1 | grep -q 'verify OK'"

# ---- ca revoke --cert: a certificate the restored record no longer holds --------
# Issued after a backup, the vault then restored: the CA's record does
# not know the serial, but the certificate carries it and the CA's
# signature; revoke --cert takes it from the file, checked first.
t "kmc backup (before cert issue late)" kmc backup --out "$T/bk2"
t "cert issue late --client" kmc cert issue late --ca root --client --subject /CN=late
cp "$V/keys/late/server.crt" "$T/late.crt"
late_serial=$(openssl x509 -in "$T/late.crt" -noout -serial | sed 's/^serial=//')
t "kmc restore the backup (late unknown to the CA again)" kmc restore "$T/bk2"
check "... whose message names ca revoke --cert" grep -q 'kmc ca revoke CA --cert FILE' "$LAST_ERR"
t_err 7 "ca revoke root SERIAL of late: unknown to the record" "no certificate with serial" \
	kmc ca revoke root "$late_serial"
t_err 2 "ca revoke with both a SERIAL and --cert is refused" "one of them" \
	kmc ca revoke root "$late_serial" --cert "$T/late.crt"
t_err 2 "ca revoke --cert with an empty file name is refused, saying so" \
	"an empty file name was given for a certificate" kmc ca revoke root --cert ""
t_err 2 "ca revoke with neither is refused" "one of them" kmc ca revoke root
# A certificate of another key under the CA's very subject: not the CA's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/forge.key" \
	-out "$T/forge.ca" -subj "$(openssl x509 -in "$T/root.pem" -noout -subject -nameopt compat | sed 's/^subject=//')" -days 2 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/forge2.key" \
	-subj /CN=late -out "$T/forge.csr" 2>/dev/null
openssl x509 -req -in "$T/forge.csr" -CA "$T/forge.ca" -CAkey "$T/forge.key" -days 2 \
	-set_serial "0x$late_serial" -out "$T/forged.crt" 2>/dev/null
check "a forged certificate: the CA's subject as issuer, late's serial" \
	bash -c '[ "$(openssl x509 -in "$1" -noout -issuer)" = "$(openssl x509 -in "$2" -noout -issuer)" ]' _ "$T/forged.crt" "$T/late.crt"
before=$(kmc ca list root --json)
t_err 9 "ca revoke --cert of a certificate the CA did not sign: refused, naming the file" \
	"forged.crt: not a certificate CA root signed" kmc ca revoke root --cert "$T/forged.crt"
check "... nothing changed in the CA's record" test "$(kmc ca list root --json)" = "$before"
# The CA's own key under another issuer name: the signature verifies,
# but no relying party would look this CA's CRL up for it.
kmc unwrap ca:root --out "$T/root.key" >/dev/null 2>&1
openssl req -x509 -new -key "$T/root.key" -subj /CN=Other -days 2 -out "$T/other.ca" 2>/dev/null
openssl x509 -req -in "$T/forge.csr" -CA "$T/other.ca" -CAkey "$T/root.key" -days 2 \
	-set_serial 0x42 -out "$T/renamed.crt" 2>/dev/null
t_err 9 "ca revoke --cert signed by the CA's key under another issuer: refused, saying so" \
	"renamed.crt: not a certificate CA root signed \\(its issuer is not the CA.s subject" \
	kmc ca revoke root --cert "$T/renamed.crt"
printf 'not a certificate\n' >"$T/junk.crt"
t_err 2 "ca revoke --cert of a file that is no certificate: refused, naming it" "junk.crt" \
	kmc ca revoke root --cert "$T/junk.crt"
cat "$T/late.crt" "$T/late.crt" >"$T/two.crt"
t_err 2 "ca revoke --cert of a file of two certificates: refused, naming it" "two.crt holds 2 certificates" \
	kmc ca revoke root --cert "$T/two.crt"
t_err 2 "ca revoke --cert of the CA's own certificate: refused" "CA root's own certificate" \
	kmc ca revoke root --cert "$T/root.pem"
t_err 7 "ca revoke --cert of a file that is not there: refused, naming it" "nosuch.crt" \
	kmc ca revoke root --cert "$T/nosuch.crt"
check "... nothing changed in the CA's record" test "$(kmc ca list root --json)" = "$before"
t "ca revoke root --cert late.crt --reason keyCompromise" \
	kmc ca revoke root --cert "$T/late.crt" --reason keyCompromise
check "... naming its serial as ca list prints it" grep -q "late.crt (serial $late_serial);" "$LAST_ERR"
kmc ca list root --json >"$T/o" 2>&1
check "ca list shows late's serial revoked, under @cert-file" \
	jq -e --arg s "$late_serial" '.[0].certificates[] | select(.serial == $s and
		.name == "@cert-file" and .revoked.reason == "keyCompromise")' "$T/o"
t_err 8 "revoking it again is refused" "already revoked" kmc ca revoke root --cert "$T/late.crt"
t "ca crl root after it" kmc ca crl root --out "$T/r4.crl"
check "the CRL lists late's serial" \
	bash -c 'openssl crl -in "$1" -noout -text | grep -q "Serial Number: $2"' _ "$T/r4.crl" "$late_serial"
check "openssl verify now refuses late's certificate as revoked" \
	bash -c 'openssl verify -crl_check -CAfile "$1" -CRLfile "$2" "$3" 2>&1 | grep -q "certificate revoked"' \
	_ "$T/root.pem" "$T/r4.crl" "$T/late.crt"
t_err 8 "ca revoke --cert of db's certificate, which the record holds revoked: refused" \
	"already revoked .*server.crt \\(serial" kmc ca revoke root --cert "$V/keys/db/server.crt"

# ---- a clock set back: numbers still grow, and kmc says so -----------------------
SHIM=$T/clock_shim.so
check "the clock shim builds" cc -shared -fPIC -o "$SHIM" "$KMC_TOP/tests/e2e/clock_shim.c" -ldl
# back SECONDS ARGS...: kmc ARGS on a clock set SECONDS back.
back() { env LD_PRELOAD="$SHIM" KMC_CLOCK_BACK="$1" "$KMC" --vault "$V" "${@:2}"; }
t "ca init clk on a clock two hours back (valid from then)" \
	back 7200 ca init clk --subject /CN=clk
t "ca crl clk" kmc ca crl clk --out "$T/c1.crl"
check "... says nothing of the clock" not grep -q clock "$LAST_ERR"
t "ca crl clk on a clock an hour back: signed all the same" \
	back 3600 ca crl clk --out "$T/c2.crl"
check "... its number one above the last" \
	test "$(crl_number "$T/c2.crl")" = $(($(crl_number "$T/c1.crl") + 1))
check "... with a warning to set the clock right" \
	grep -q "the system clock reads earlier than CA clk's last CRL.*set the clock right" "$LAST_ERR"
t "ca crl clk, the clock right again" kmc ca crl clk --out "$T/c3.crl"
check "... its number above the last, no warning" \
	bash -c "test $(crl_number "$T/c3.crl") -gt $(crl_number "$T/c2.crl") && ! grep -q clock '$LAST_ERR'"

done_testing
