#!/usr/bin/env bash
# test_provider_curl.sh - curl as a TLS client whose client key stays in a
# kmc vault, as docs/integrations/curl.md sets it up: the client bundle is
# imported, `kmc ref client --out clientref.pem` writes a key-reference
# file, and `curl --cert client.crt --key clientref.pem` runs with
# OPENSSL_CONF loading the kmc provider. The server is `openssl s_server
# -Verify 1 -CAfile ca.crt -www`, which demands a client certificate of the
# CA and describes the one it accepted on its page.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

for prog in curl openssl; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "skip: $prog not installed"
		done_testing
		exit
	fi
done

V=$T/vault
PKI=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }

CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$KMC_BUILD/provider/kmc.so"
with_conf() { OPENSSL_CONF=$CONF "$@"; }

# ---- the server -----------------------------------------------------------------

trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# start_server: s_server on a port the kernel picks (start_s_server),
# demanding a client certificate of the CA; output in $T/server.{out,log}.
start_server() {
	start_s_server server openssl s_server \
		-cert "$PKI/server.crt" -key "$PKI/server.plain.key" \
		-Verify 1 -CAfile "$PKI/ca.crt"
}

# get NAME CURL-ARGS...: fetch the page as https://localhost:PORT/ (kept
# on 127.0.0.1, the name still checked against the certificate); body in
# $T/NAME.html.
get() {
	local name=$1
	shift
	timeout 30 curl -sS --resolve "localhost:$PORT:127.0.0.1" \
		--cacert "$PKI/ca.crt" -o "$T/$name.html" "$@" "https://localhost:$PORT/"
}
# The page ends with the PEM of the client certificate the server accepted:
# fingerprint (servers.sh) reads it.
# The page s_server -www writes for a verified client certificate.
accepted() {
	grep -qx 'Client certificate' "$T/$1.html" &&
		grep -Eq '^ +Subject: CN ?= ?kmc test client$' "$T/$1.html" &&
		grep -q 'Verify return code: 0 (ok)' "$T/$1.html"
}

# ---- the client bundle in a vault ----------------------------------------------

t "tools/mkpki.sh makes a CA, a server and a client certificate" \
	bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
t "kmc init makes a vault with the host protector" kmc init
# import_client VAULT [OPTIONS...]: kmc --vault VAULT import --name client
# of client.crt and client.key, with OPTIONS (the vault's) after it.
CLIENT_CRT=$PKI/client.crt
import_client() {
	t_err 0 "kmc import --name client stores the client certificate and key" \
		'imported client into' \
		"$KMC" --vault "$1" import --name client -c "$PKI/ca.crt" -s "$CLIENT_CRT" \
		-k "$PKI/client.key" "${@:2}"
	if grep -q 'unsuitable certificate purpose' "$ERR"; then
		# kmc import verifies every leaf for the serverAuth purpose, so
		# the clientAuth-only client.crt is refused (the failure above).
		# To go on testing curl and the provider, import the same key
		# with a certificate of the same CA that allows both purposes.
		echo "# kmc import refused client.crt; going on with a clientAuth+serverAuth certificate for client.key"
		if [ ! -f "$T/dual.crt" ]; then
			printf '%s\n' 'basicConstraints = CA:false' \
				'keyUsage = critical, digitalSignature' \
				'extendedKeyUsage = clientAuth, serverAuth' >"$T/dual.ext"
			openssl req -new -key "$PKI/client.key" -subj "/CN=kmc test client" \
				-out "$T/dual.csr" 2>/dev/null &&
				openssl x509 -req -in "$T/dual.csr" -CA "$PKI/ca.crt" \
					-CAkey "$PKI/ca.key" -CAserial "$T/dual.srl" \
					-CAcreateserial -days 30 -extfile "$T/dual.ext" \
					-out "$T/dual.crt" 2>/dev/null
		fi
		t_err 0 "(fallback) kmc import --name client with the dual-purpose certificate" \
			'imported client into' \
			"$KMC" --vault "$1" import --name client -c "$PKI/ca.crt" \
			-s "$T/dual.crt" -k "$PKI/client.key" "${@:2}"
		CLIENT_CRT=$T/dual.crt	# the next import: the same failure, once
	fi
}
import_client "$V"
REF=$T/clientref.pem
t "kmc ref client --out writes the client's key-reference file" kmc ref client --out "$REF"
check "... which holds no key material" bash -c '! grep -q "PRIVATE KEY" "$1"' _ "$REF"

# ---- curl ---------------------------------------------------------------------------

t "openssl s_server -Verify 1 -CAfile ca.crt -www starts" start_server

t "curl --cert client.crt --key clientref.pem under OPENSSL_CONF fetches the page" \
	with_conf get withref --cert "$PKI/client.crt" --key "$REF"
check "... the page says the client certificate was accepted (CN=kmc test client, verify ok)" \
	accepted withref
t_out "... and it is the client.crt curl was given (SHA-256 fingerprint)" \
	"$(fingerprint "$PKI/client.crt")" fingerprint "$T/withref.html"

t_err 58 "without OPENSSL_CONF curl cannot use the reference file as a key" \
	'unable to set private key file' \
	get noconf --cert "$PKI/client.crt" --key "$REF"

t_rc 0 "(control) curl with the plain client.key gets the same page" \
	get plain --cert "$PKI/client.crt" --key "$PKI/client.key"
check "... with the client certificate accepted" accepted plain
t_err 56 "(control) curl without a client certificate is refused by the server" \
	'alert certificate required' get nocert
check "the server is still running" kill -0 "$SPID"

t "kmc rm client removes the bundle" kmc rm client
t_err 58 "then curl with the same reference file cannot load the key" \
	'unable to set private key file' \
	with_conf get gone --cert "$PKI/client.crt" --key "$REF"

# ---- a passphrase vault: curl --pass reaches the provider -------------------------

PV=$T/pvault
secret_file "$T/vaultpw" 'vault passphrase for curl'
t "kmc init --protector passphrase (Argon2id 1 pass, 8 MiB)" \
	"$KMC" --vault "$PV" init --protector passphrase --passphrase-file "$T/vaultpw" \
	--argon2-ops 1 --argon2-mem 8
import_client "$PV" --passphrase-file "$T/vaultpw"
PREF=$T/pclientref.pem
t "kmc ref client --out for the passphrase vault" \
	"$KMC" --vault "$PV" ref client --out "$PREF" --passphrase-file "$T/vaultpw"
t "curl --key pclientref.pem --pass PASSPHRASE opens the vault and fetches the page" \
	with_conf get withpass --cert "$PKI/client.crt" --key "$PREF" \
	--pass 'vault passphrase for curl'
check "... with the client certificate accepted" accepted withpass
t_err 58 "a wrong --pass is refused" 'unable to set private key file' \
	with_conf get wrongpass --cert "$PKI/client.crt" --key "$PREF" --pass 'not it at all'

done_testing
