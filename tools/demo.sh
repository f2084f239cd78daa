#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job end to end on a throwaway vault, each
# step shown as the command an operator would type: a vault, a password,
# ciphertext strings, then certImport of an OpenSSL-made CA, server and
# client certificate, a TLS server that unwraps its key at boot, and a
# client that connects with its certificate.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="$build:$PATH"
work=$(mktemp -d /tmp/kmc-demo.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export KMC_VAULT="$work/vault" KMC_HOST_KEY="$work/host.key"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say() { printf '\n# %s\n' "$*"; }

say "A throwaway vault in $work; the host key sits beside it for the demo."
step kmc init
step ls -l vault
step kmc status

say "Store the password of a server key (read from a 0600 file, never argv)."
(umask 077 && printf 'correct horse battery staple\n' > pw.txt)
step kmc password set pgkey --password-file pw.txt
step kmc list
say "What PostgreSQL's ssl_passphrase_command would read:"
step kmc password get pgkey; echo

say "A ciphertext string for a config file, and back."
mm=$(printf 'correct horse battery staple' | kmc encrypt)
step kmc decrypt "$mm"; echo

say "A server at boot, through the C API (examples/server_boot.c):"
printf 'server_key_mm = %s\n' "$mm" > boot.conf
step "$build/examples/server_boot" pgkey boot.conf

say "certImport: a throwaway CA, a server and a client certificate, made with OpenSSL."
step "$top/tools/mkpki.sh" pki server-key-password
step openssl x509 -in pki/server.crt -noout -subject -issuer -ext subjectAltName
(umask 077 && printf 'server-key-password\n' > keypw.txt)
printf '# app.conf\nport = 8443\n' > app.conf

say "Everything is checked before anything is written: a key that is not the server's is refused."
step kmc import -c pki/ca.crt -s pki/server.crt -k pki/client.key -r pki/ca.crl \
	--conf app.conf || true
say "The real import: bundle in the vault, copies in the keys folder, entries in app.conf."
step kmc import -c pki/ca.crt -s pki/server.crt -k pki/server.key -r pki/ca.crl \
	--conf app.conf --password-file keypw.txt
step ls -l vault/keys/server
step cat app.conf
step kmc cert info server

say "A TLS server unwraps its key at boot (examples/tls_server.c, kmc_ssl_ctx_use)."
"$build/examples/tls_server" --vault "$KMC_VAULT" > server.out 2> server.err &
server_pid=$!
for _ in $(seq 50); do grep -q listening server.out 2>/dev/null && break; sleep 0.1; done
cat server.out
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' server.out | head -1)
# connect [CLIENT-OPTIONS]: the server's greeting, or why there is none
connect() {
	openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile pki/ca.crt -verify_return_error -ign_eof "$@" </dev/null \
		2>/dev/null | grep -E '^(hello|subject=)' || echo "(no greeting: refused)"
}
say "A client with a certificate from the CA connects and is greeted:"
step connect -cert pki/client.crt -key pki/client.key
say "A client without a certificate is refused:"
step connect
say "Revoke the client's certificate; the running server reloads the CRL:"
step pki/crl.sh client.crt
step kmc crl update server -r pki/ca.crl
for _ in $(seq 50); do grep -q reloaded server.err 2>/dev/null && break; sleep 0.1; done
grep reloaded server.err || true
step connect -cert pki/client.crt -key pki/client.key

say "Unmodified servers: the kmc OpenSSL provider loads the key from a kmc: URI."
uri=$(kmc ref server --uri)
step openssl pkey -provider-path "$build/provider" -provider kmc -provider default \
	-in "$uri" -pubout
echo
echo "demo: done"
