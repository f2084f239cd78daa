#!/usr/bin/env bash
# test_tls_server.sh - examples/tls_server end to end: a TLS server whose
# key, certificates and CRL come from an imported bundle. Clients with a
# certificate of the CA are greeted (openssl s_client and curl), clients
# without one are refused, a client revoked through `kmc crl update` is
# refused by the same running server once it has reloaded, and a server
# without its bundle will not start.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# wait_exit, stop_server, stop_all: shared with the other server suites.
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

# start_tls_server NAME ARGS...: shared with the rotation suites.
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
PKI=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }

trap 'stop_all; rm -rf "$T"' EXIT

# ---- clients ----------------------------------------------------------------

# connect NAME [s_client options]: one openssl s_client run that sends
# nothing; stdout in $T/NAME.out, stderr in $T/NAME.err, exit status in
# $T/NAME.rc. -ign_eof keeps it reading after its empty stdin ends, until
# the server closes, so the greeting cannot be lost to a race.
connect() {
	local name=$1
	shift
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-CAfile "$PKI/ca.crt" -verify_return_error -ign_eof "$@" \
		</dev/null >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
with_cert=(-cert "$PKI/client.crt" -key "$PKI/client.key")

greeted() { grep -qx 'hello kmc test client' "$T/$1.out"; }
not_greeted() { ! grep -q 'hello' "$T/$1.out"; }
succeeded() { [ "$(cat "$T/$1.rc")" = 0 ]; }
# The certificate the server presented, as s_client printed it.
presented_subject() {
	openssl x509 -in "$T/$1.out" -noout -subject -nameopt RFC2253
}
presented_fingerprint() {
	openssl x509 -in "$T/$1.out" -noout -fingerprint -sha256
}
same_cert() {
	[ "$(presented_fingerprint "$1")" = \
	  "$(openssl x509 -in "$2" -noout -fingerprint -sha256)" ]
}
logged() { grep -Eq -- "$1" "$SLOG"; }
count_reloads() { grep -c 'reloaded: generation' "$SLOG"; }

# curl speaks HTTP; the server answers any request with its greeting and
# no status line, which curl accepts as HTTP/0.9 when told to. --resolve
# keeps it on 127.0.0.1, where the server listens, and still checks the
# name localhost against the certificate.
curl_get() {
	timeout 10 curl -sS --http0.9 --resolve "localhost:$PORT:127.0.0.1" \
		--cacert "$PKI/ca.crt" "$@" "https://localhost:$PORT/"
}
curl_refused() { ! curl_get "$@" 2>/dev/null | grep -q hello; }

# ---- a vault with the bundle --------------------------------------------

"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
KEYPW=$T/keypw
secret_file "$KEYPW" 'server-key-password'
t "init a vault with the host protector" kmc init
t "import the CA, server certificate, encrypted key and CRL" \
	kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
	-r "$PKI/ca.crl" --password-file "$KEYPW"

# ---- serving ----------------------------------------------------------------

t "the server starts and prints the port it listens on" \
	start_tls_server main --vault "$V" --port 0
PID0=$SPID
check "the server is running" kill -0 "$PID0"

connect good "${with_cert[@]}"
check "a client with a certificate of the CA completes the handshake" \
	succeeded good
check "it receives \"hello kmc test client\"" greeted good
t_out "the server presented CN=localhost" "subject=CN=localhost" \
	presented_subject good
check "the certificate presented is the imported server.crt" \
	same_cert good "$PKI/server.crt"
check "the client verified it against the CA" \
	grep -q 'Verify return code: 0 (ok)' "$T/good.out"
check "the server logged whom it greeted" logged 'greeted kmc test client'

connect nocert
check "a client without a certificate is refused" failed nocert
check "it receives no greeting" not_greeted nocert
check "the server logged why, with the OpenSSL reason" \
	logged 'handshake failed: .*did not return a certificate'
check "the server is still running after a refused client" kill -0 "$PID0"

t_out "curl with the client certificate receives the greeting" \
	"hello kmc test client" \
	curl_get --cert "$PKI/client.crt" --key "$PKI/client.key"
check "curl without a client certificate gets no greeting" curl_refused

check "no secret reaches the server's log" \
	bash -c '! grep -Eq "server-key-password|PRIVATE KEY" "$1"' _ "$SLOG"

# ---- --max-connections (a second server beside the first) -------------------

MAIN_PORT=$PORT MAIN_LOG=$SLOG
t "a server with --max-connections 1 starts" \
	start_tls_server once --vault "$V" --max-connections 1
connect once-client "${with_cert[@]}"
check "its one client is greeted" greeted once-client
t "it then exits 0 by itself" wait_exit "$SPID"
PORT=$MAIN_PORT SLOG=$MAIN_LOG SPID=$PID0

# ---- revocation, picked up without a restart ----------------------------------

before=$(count_reloads)
t "crl.sh revokes the client certificate" "$PKI/crl.sh" "$PKI/client.crt"
t "kmc crl update stores the new CRL" kmc crl update server -r "$PKI/ca.crl"
# The update is more than one commit (its journal first): wait for the
# reload at the generation it ended at (tls_servers.sh).
G=$(vault_generation "$V")
await_reload_at "$V" "$PID0"
check "the server reloaded at the update's last generation ($G)" \
	test "$(last_reload_gen)" -ge "$G"
check "the server logged \"reloaded\" after the CRL update" \
	test "$(count_reloads)" -gt "$before"
check "the reload named the new generation" \
	logged '^tls_server: reloaded: generation [0-9]+$'

connect revoked "${with_cert[@]}"
check "the same client is now refused" failed revoked
check "it receives no greeting" not_greeted revoked
check "the server logged that the certificate is revoked" \
	logged 'handshake failed: .*certificate revoked'
check "by the same server process (same PID), still running" \
	kill -0 "$PID0"
t_out "the server still prints one listening line" \
	"listening on 127.0.0.1:$PORT" cat "$T/main.stdout"
check "curl with the revoked certificate gets no greeting either" \
	curl_refused --cert "$PKI/client.crt" --key "$PKI/client.key"

t "SIGTERM stops the server with exit 0" stop_server "$PID0"
check "it said so in its log" logged '^tls_server: stopping after [0-9]+ connections?$'

# ---- a vault without the bundle -------------------------------------------------

t "init a second vault without any bundle" "$KMC" --vault "$T/empty" init
t_err 1 "a server on a vault without the bundle exits 1 naming the item" \
	'server/cert' timeout 10 "$SRV" --vault "$T/empty"
t_err 1 "a server asked for another bundle names that one" \
	'no item other/cert' timeout 10 "$SRV" --vault "$V" --name other
t_err 1 "a server on a directory that is no vault says which" \
	"$T/nowhere" timeout 10 "$SRV" --vault "$T/nowhere"
t_err 2 "a bad --port is a usage error" 'usage: tls_server' \
	"$SRV" --port 70000

done_testing
