#!/usr/bin/env bash
# test_promote.sh - certificates over time: kmc import --stage keeps a new
# key and certificate beside the live ones without serving them; kmc
# promote makes them live in one transaction (items, keys-folder copies,
# config entries) and a running examples/tls_server picks them up without
# a restart; kmc promote --previous goes back; kmc cert renew gives the
# stored key a new certificate without its password. Every refusal names
# what is wrong, exits with its code and changes nothing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
P=$T/pki
O=$T/other
CONF=$T/app.conf
KD=$V/keys/web
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'stop_all; rm -rf "$T"' EXIT

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
MKPKI_CA_CN="other CA" "$KMC_TOP/tools/mkpki.sh" "$O" >/dev/null
(cd "$P" && ./issue.sh "$T/r2" P-256 'second-key-password') >/dev/null 2>&1
PW=$T/pw
secret_file "$PW" 'server-key-password'
PW2=$T/pw2
secret_file "$PW2" 'second-key-password'
# A new certificate for the live key (same CSR), one from another CA for
# the same key, and one of the same key that has expired.
echo 'unique_subject = no' >"$P/index.txt.attr"
(cd "$P" && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
	-CAcreateserial -out "$T/renewed.crt" -days 20 -extfile ca.cnf \
	-extensions server &&
 openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key \
	-in server.csr -startdate 20200101000000Z -enddate 20200201000000Z \
	-extensions server -out "$T/expired.crt" -notext) >/dev/null 2>&1
(cd "$O" && openssl x509 -req -in "$P/server.csr" -CA ca.crt -CAkey ca.key \
	-CAcreateserial -out "$T/othca.crt" -days 20 -extfile ca.cnf \
	-extensions server) >/dev/null 2>&1

serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
live_serial() { kmc cert info web --json | jq -r '.[0].serial'; }
gen() { kmc status --json | jq -r .store_generation; }
# The public key of the key the vault serves, and of a key file.
served_pub() { kmc unwrap web | openssl pkey -pubout; }
pub_of() { openssl pkey -in "$1" -passin "file:$2" -pubout; }
# What a user sees: the items (less their times), the keys folder and the
# config file, bytes and modes.
files() { (cd "$KD" && stat -c '%n %a' * && cat ./*); stat -c %a "$CONF"; cat "$CONF"; }
seen() { kmc list --json | sed 's/"created":[0-9]*,//g'; files; }
unchanged() { [ "$(seen)" = "$SEEN" ]; }

printf 'listen = 443\n' >"$CONF"
chmod 0640 "$CONF"
t "init" kmc init
t "import web, with a config file" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" -r "$P/ca.crl" --password-file "$PW" --name web \
	--conf "$CONF"
S1=$(serial "$P/server.crt")
S2=$(serial "$T/r2.crt")

# ---- a server that polls the generation ----------------------------------

presented() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/ca.crt" \
		-cert "$P/client.crt" -key "$P/client.key" -ign_eof </dev/null \
		2>/dev/null | openssl x509 -noout -serial | cut -d= -f2
}
reloads() { grep -c 'reloaded: generation' "$SLOG"; }
# wait_reload N: until the server has reloaded more than N times, the
# last at the vault's generation now (tls_servers.sh).
wait_reload() {
	local i
	for i in $(seq 300); do
		[ "$(reloads)" -gt "$1" ] && break
		sleep 0.1
	done
	[ "$(reloads)" -gt "$1" ] && await_reload_at "$V"
}
t "tls_server serves web" start_tls_server srv --vault "$V" --name web --port 0
t_out "it presents the imported certificate" "$S1" presented

# ---- stage: nothing served changes ---------------------------------------

FILES=$(files)
G=$(gen)
t "import --stage a new key and certificate" kmc import -c "$P/ca.crt" \
	-s "$T/r2.crt" -k "$T/r2.key" --password-file "$PW2" --name web --stage
check "the staging grew the generation (a new record)" [ "$(gen)" -gt "$G" ]
t_out "cert info still shows the live certificate" "$S1" live_serial
t_out "cert info says a version is staged" "true false" bash -c \
	'"$1" --vault "$2" cert info web --json | jq -r "\"\(.[0].staged) \(.[0].previous)\""' \
	_ "$KMC" "$V"
check "unwrap still gives the live key" \
	[ "$(served_pub)" = "$(pub_of "$P/server.key" "$PW")" ]
check "the keys folder and config file are untouched" [ "$(files)" = "$FILES" ]
t_out "the server still presents the live certificate" "$S1" presented

# ---- promote ---------------------------------------------------------------

n=$(reloads)
t "promote web" kmc promote web
t_out "cert info shows the new certificate" "$S2" live_serial
check "unwrap gives the new key" \
	[ "$(served_pub)" = "$(pub_of "$T/r2.key" "$PW2")" ]
t_out "the keys folder's server.crt is the new one" "$S2" serial "$KD/server.crt"
check "its server.key is the new key, under the new key's password" \
	[ "$(pub_of "$KD/server.key" "$PW2")" = "$(pub_of "$T/r2.key" "$PW2")" ]
t_out "the copies stay 0400" "400 400 400" bash -c \
	'stat -c %a "$1/server.crt" "$1/server.key" "$1/ca.crt" | xargs' _ "$KD"
t_out "password get web gives the new key's password" \
	"second-key-password" kmc password get web
t_out "the config file's server_key_mm decrypts to it" "second-key-password" \
	bash -c '"$1" --vault "$2" decrypt "$(sed -n "s/^server_key_mm = //p" "$3")"' \
	_ "$KMC" "$V" "$CONF"
t_out "the config file keeps its mode" "640" stat -c %a "$CONF"
check "the config file keeps its other lines" grep -qx 'listen = 443' "$CONF"
check "no crl entry: the staged version has no CRL" \
	bash -c '! grep -q "^crl" "$1" && [ ! -e "$2/ca.crl" ]' _ "$CONF" "$KD"
check "nothing is staged any more" bash -c \
	'! "$1" --vault "$2" list | grep -q "^web/\.s/"' _ "$KMC" "$V"
t "the server reloads on the generation change" wait_reload "$n"
t_out "the same server process presents the new certificate" "$S2" presented
check "it was not restarted" kill -0 "$SPID"
t_rc 0 "the vault verifies" kmc status
t_out "cert info --version 1 shows the version before" "$S1" bash -c \
	'"$1" --vault "$2" cert info web --version 1 --json | jq -r ".[0].serial"' \
	_ "$KMC" "$V"
t_out "cert info --version 2 the current one" "$S2" bash -c \
	'"$1" --vault "$2" cert info web --version 2 --json | jq -r ".[0].serial"' \
	_ "$KMC" "$V"
t_err 7 "a version not kept is named" "no version 99 of web/cert is kept" \
	kmc cert info web --version 99
t_err 2 "--version takes a number" "version number" kmc cert info web --version x
t_err 2 "--version needs a bundle" "needs the NAME" kmc cert info --version 1

# ---- --previous --------------------------------------------------------------

n=$(reloads)
t "promote --previous" kmc promote web --previous
t_out "the old certificate is live again" "$S1" live_serial
check "and the old key" [ "$(served_pub)" = "$(pub_of "$P/server.key" "$PW")" ]
t_out "with its password" "server-key-password" kmc password get web
check "and its CRL copy is back" test -s "$KD/ca.crl"
check "and the config's crl entry" grep -q '^crl = ' "$CONF"
t "the server reloads" wait_reload "$n"
t_out "and presents the old certificate" "$S1" presented
t "a second --previous goes forward again" kmc promote web --previous
t_out "the new certificate is live" "$S2" live_serial
t "and back" kmc promote web --previous

# ---- renew: a new certificate for the key already there, no password ---------

t "cert renew web -s renewed.crt (no key password asked)" \
	kmc cert renew web -s "$T/renewed.crt"
t_out "the renewed certificate is live" "$(serial "$T/renewed.crt")" live_serial
check "the key is the same" [ "$(served_pub)" = "$(pub_of "$P/server.key" "$PW")" ]
t_out "the keys folder has it" "$(serial "$T/renewed.crt")" serial "$KD/server.crt"
t_out "the CRL stays" "1" bash -c 'ls "$1" | grep -c ca.crl' _ "$KD"
t "--previous goes back to the certificate before the renewal" \
	kmc promote web --previous
t_out "it is live again" "$S1" live_serial
t "renew again" kmc cert renew web -s "$T/renewed.crt"

# ---- refusals: each names the problem, exits with its code, changes nothing ---

SEEN=$(seen)
t_err 7 "promote with nothing staged" "nothing staged for web" kmc promote web
t_err 9 "renew with a certificate of another key" \
	"the key of web does not belong to the certificate .* in .*r2.crt" \
	kmc cert renew web -s "$T/r2.crt"
t_err 9 "renew with a certificate of another CA" "othca.crt does not chain to the CA" \
	kmc cert renew web -s "$T/othca.crt"
t_err 9 "renew with an expired certificate" "expired.crt: certificate .* has expired" \
	kmc cert renew web -s "$T/expired.crt"
t_err 2 "renew with a file that is no certificate" "not a certificate" \
	kmc cert renew web -s "$CONF"
t_err 7 "renew of a bundle that does not exist" "holds no imported bundle nosuch" \
	kmc cert renew nosuch -s "$T/renewed.crt"
t_err 2 "renew without -s" "needs -s" kmc cert renew web
t_err 9 "staging an expired certificate is refused as an import" "has expired" \
	kmc import -c "$P/ca.crt" -s "$T/expired.crt" -k "$P/server.key" \
	--password-file "$PW" --name web --stage
check "none of them changed anything" unchanged
t "import another bundle" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" --password-file "$PW" --name solo
t_err 7 "--previous of a bundle with no previous version" \
	"no previous version of solo" kmc promote solo --previous

# ---- a staged version of a new name; trust store kept; rm ----------------------

t "a trust store" kmc trust add root "$O/ca.crt" --store clients
t "cert set-trust web clients" kmc cert set-trust web clients
t "stage a version of web without --trust" kmc import -c "$P/ca.crt" \
	-s "$T/r2.crt" -k "$T/r2.key" --password-file "$PW2" --name web --stage
t "promote" kmc promote web
t_out "the bundle still names its trust store" "clients" bash -c \
	'"$1" --vault "$2" cert info web --json | jq -r ".[0].trustStore"' _ "$KMC" "$V"
t "stage a bundle that is not live yet" kmc import -c "$P/ca.crt" \
	-s "$P/server.crt" -k "$P/server.key" --password-file "$PW" --name fresh --stage
t_err 7 "it serves nothing yet" "fresh" kmc unwrap fresh
t "promote fresh" kmc promote fresh
t_out "now it is live" "$S1" bash -c '"$1" --vault "$2" cert info fresh --json |
	jq -r ".[0].serial"' _ "$KMC" "$V"
t "stage web again, then rm web" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" --password-file "$PW" --name web --stage
t "kmc rm web" kmc rm web
check "the staged and previous versions went with it" bash -c \
	'! "$1" --vault "$2" list | grep -q "^web"' _ "$KMC" "$V"
t_rc 0 "the vault is healthy" kmc status

# ---- a vault that never held a bundle: promote makes its keys folder -----------

V2=$T/vault2
t "init a second vault" "$KMC" --vault "$V2" init
t "stage a bundle in it" "$KMC" --vault "$V2" import -c "$P/ca.crt" \
	-s "$P/server.crt" -k "$P/server.key" --password-file "$PW" --name web --stage
t "promote it: the vault's keys folder is made, as an import makes it" \
	bash -c '"$1" --vault "$2" promote web 2>"$3"' _ "$KMC" "$V2" "$T/promote.err"
check "it replaced nothing, and does not say it kept a version it replaced" \
	bash -c '! grep -q "replaced" "$1" && grep -q "now serves" "$1"' _ "$T/promote.err"
t_out "the copies are there, 0400" "400 400 400" bash -c \
	'stat -c %a "$1/server.crt" "$1/server.key" "$1/ca.crt" | xargs' _ "$V2/keys/web"
t_out "in folders of mode 0700" "700 700" bash -c 'stat -c %a "$1" "$1/web" | xargs' _ "$V2/keys"

done_testing
