#!/usr/bin/env bash
# test_token_postgres.sh - PostgreSQL 15 whose TLS key stays on a PKCS#11
# token (SoftHSM2): the vault holds where the key is and its certificate,
# ssl_key_file is a key-reference file (kmc ref --out), OPENSSL_CONF in the
# postmaster's environment loads the provider. The postmaster reads the
# reference; each backend it forks signs its handshake on the token (the
# module is initialised again and logged in after the fork: the provider's
# pid check). psql connects with sslmode=verify-full, one after another and
# several at once; a reload reads the key again.
#
# PostgreSQL refuses to run as root, so the server, initdb, the token and
# every kmc command that touches the vault run as the postgres system
# user, on files in a temp dir of their own; psql runs as root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
pg_require "$MOD"
pg_private_dir /tmp/kmc-pgtok.XXXXXX
V=$D/vault
PKI=$D/pki
kmc_pg() { as_pg "$K" --vault "$V" "$@"; }

# The token, the postgres user's.
. "$KMC_TOP/tools/softhsm-token.sh"
softhsm_token "$D" pg so-9 pg-pin-9 >/dev/null
secret_file "$D/pin" pg-pin-9
chown -R postgres:postgres "$D/tokens" "$D/pin" "$SOFTHSM2_CONF"

t "tools/mkpki.sh makes a CA" bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
chown -R postgres:postgres "$PKI"
t "kmc init as postgres" kmc_pg init
t "kmc key gen server --on-token (P-256) as postgres" kmc_pg key gen server --type p256 \
	--on-token "pkcs11:token=pg?module-path=$MOD&pin-source=$D/pin"
t "kmc csr server, signed on the token" kmc_pg csr server --subject /CN=localhost \
	--san DNS:localhost --out "$D/server.csr"
(cd "$PKI" && openssl x509 -req -in "$D/server.csr" -CA ca.crt -CAkey ca.key \
	-CAcreateserial -days 30 -copy_extensions copy -out "$D/server.crt") >/dev/null 2>&1
chown postgres:postgres "$D/server.crt"
t "kmc cert set server" kmc_pg cert set server -s "$D/server.crt" -c "$PKI/ca.crt"
REF=$D/server.ref
t "kmc ref server --out" kmc_pg ref server --out "$REF"
chmod 600 "$REF"

t "initdb as postgres" as_pg "$PGBIN/initdb" -D "$DATA" -U postgres \
	--auth-local=trust --auth-host=reject --no-sync
echo "include 'kmc_tls.conf'" >>"$DATA/postgresql.conf"
cat >"$DATA/pg_hba.conf" <<HBA
local    all  all                trust
hostssl  all  all  127.0.0.1/32  trust
HBA
P=$(free_port)
ssl_conf() {
	cat >"$DATA/kmc_tls.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$D'
ssl = on
ssl_cert_file = '$D/server.crt'
ssl_key_file = '$REF'
CONF
	chown postgres:postgres "$DATA/kmc_tls.conf"
}
ssl_conf
start() { pg_start ssl_conf; }
pg_ctl() { as_pg env -u KMC_HOST_KEY OPENSSL_CONF="$CONF" "$PGBIN/pg_ctl" -D "$DATA" "$@"; }

t "the server starts with the token key's reference" start
check "... and its log shows no failure" clean_since 0
q() { timeout 30 "$PGBIN/psql" -X -At "$1" -c "$2"; }
conn() {
	printf 'host=localhost hostaddr=127.0.0.1 port=%s dbname=postgres user=postgres sslmode=verify-full sslrootcert=%s connect_timeout=10' \
		"$P" "$PKI/ca.crt"
}
SSL_USED='SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
for i in 1 2 3; do
	t_out "psql sslmode=verify-full gets TLS, backend $i" t q "$(conn)" "$SSL_USED"
done
for i in 1 2 3 4; do
	q "$(conn)" "$SSL_USED" >"$D/conc.$i" 2>&1 &
done
wait_q() { local j; for j in $(jobs -p); do wait "$j"; done; }
wait_q
all_tls() { [ "$(cat "$D"/conc.? | grep -c '^t$')" = 4 ] || { cat "$D"/conc.? >&2; false; }; }
check "four connections at once all get TLS" all_tls
t_out "the server presented the token key's certificate" \
	"$(openssl x509 -in "$D/server.crt" -noout -fingerprint -sha256)" \
	bash -c "timeout 20 openssl s_client -starttls postgres -connect 127.0.0.1:$P -CAfile $PKI/ca.crt -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
n=$(sighups)
lines=$(wc -l <"$LOG")
t "pg_ctl reload" pg_ctl reload
check "... the server takes the reload" wait_for more_sighups "$n"
t_out "... psql gets TLS after it" t q "$(conn)" "$SSL_USED"
check "... and the key was read again without a failure" clean_since "$lines"
check "the server's log has no failure" clean_since 0
done_testing
