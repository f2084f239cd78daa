#!/usr/bin/env bash
# test_provider_postgres.sh - PostgreSQL 15 whose TLS key stays in a kmc
# vault and reaches it through the kmc OpenSSL provider: ssl_key_file is a
# key-reference file (kmc ref server --out), OPENSSL_CONF in the
# postmaster's environment loads the provider, and the vault opens with
# its host protector, no passphrase command. psql connects with
# sslmode=verify-full and gets TLS on the imported certificate; a reload
# loads the key again through the provider. Last, a passphrase-protected
# vault, whose passphrase ssl_passphrase_command hands to the provider
# through OpenSSL's password callback.
#
# (tests/e2e/test_postgres.sh covers the other way: the encrypted key copy
# with `kmc password get` as ssl_passphrase_command.)
#
# PostgreSQL refuses to run as root, so the server, initdb and every kmc
# command that touches the vault run as the postgres system user, on files
# in a temp dir of their own; psql runs as root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

pg_require

# ---- a private place the postgres user owns ---------------------------------------

pg_private_dir /tmp/kmc-pgprov.XXXXXX
V=$D/vault
PKI=$D/pki
kmc_pg() { as_pg "$K" "$@"; }

# ssl_conf KEYFILE [PASSPHRASE-COMMAND]: the TLS settings, on port $P.
ssl_conf() {
	cat >"$DATA/kmc_tls.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$D'
ssl = on
ssl_cert_file = '$PKI/server.crt'
ssl_key_file = '$1'
ssl_passphrase_command = '${2:-}'
CONF
	chown postgres:postgres "$DATA/kmc_tls.conf"
}

# start [ENV...]: pg_ctl start with ENV in the postmaster's environment
# (pg_ctl passes its own on), a fresh log; a port taken meanwhile is
# retried on another one.
start() {
	local try
	for try in 1 2 3 4 5; do
		rm -f "$LOG"
		if as_pg env "$@" "$PGBIN/pg_ctl" -D "$DATA" start -w -t 60 -l "$LOG" \
			>/dev/null 2>&1; then
			return 0
		fi
		grep -q 'could not bind' "$LOG" 2>/dev/null || return 1
		P=$(free_port) || return 1
		ssl_conf "$KEYFILE" "$PASSCMD"
	done
	return 1
}
KEYFILE=
PASSCMD=
# The postmaster gets no $KMC_HOST_KEY: the vault recorded the host key path.
WITH_PROVIDER=(-u KMC_HOST_KEY OPENSSL_CONF="$CONF")
WITHOUT_PROVIDER=(-u KMC_HOST_KEY -u OPENSSL_CONF)

q() { timeout 30 "$PGBIN/psql" -X -At "$1" -c "$2"; }
conn() {
	printf 'host=localhost hostaddr=127.0.0.1 port=%s dbname=postgres user=postgres sslmode=verify-full sslrootcert=%s connect_timeout=10' \
		"$P" "$PKI/ca.crt"
}
SSL_USED='SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
served_fingerprint() {
	timeout 20 openssl s_client -starttls postgres -connect "127.0.0.1:$P" \
		-CAfile "$PKI/ca.crt" -verify_return_error </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256
}
SERVER_FP=

# ---- the PKI, the vault and the reference file ---------------------------------------

t "tools/mkpki.sh makes a CA and an encrypted server key" bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
chown -R postgres:postgres "$PKI"
SERVER_FP=$(openssl x509 -in "$PKI/server.crt" -noout -fingerprint -sha256)
secret_file "$D/keypw" 'server-key-password'
chown postgres:postgres "$D/keypw"

t_err 0 "kmc init as postgres makes a vault with the host protector" \
	"created vault $V" kmc_pg --vault "$V" init
t_err 0 "kmc import stores the server bundle (encrypted key)" "imported server into $V" \
	kmc_pg --vault "$V" import -c "$PKI/ca.crt" -s "$PKI/server.crt" \
	-k "$PKI/server.key" --password-file "$D/keypw"
REF=$D/server.ref.pem
t "kmc ref server --out writes the key-reference file" kmc_pg --vault "$V" ref server --out "$REF"

# ---- the cluster ------------------------------------------------------------------------

t "initdb as postgres" as_pg "$PGBIN/initdb" -D "$DATA" -U postgres \
	--auth-local=trust --auth-host=reject --no-sync
echo "include 'kmc_tls.conf'" >>"$DATA/postgresql.conf"
cat >"$DATA/pg_hba.conf" <<HBA
local    all  all                trust
hostssl  all  all  127.0.0.1/32  trust
HBA
P=$(free_port)
check "a free loopback port was found" test -n "$P"
KEYFILE=$REF
ssl_conf "$KEYFILE"

# PostgreSQL wants ssl_key_file 0600 (0640 if root's); kmc writes 0644.
check "kmc ref wrote the reference file 0644" test "$(stat -c %a "$REF")" = 644
t_rc 1 "with the reference file as kmc wrote it (0644), the server does not start" \
	start "${WITH_PROVIDER[@]}"
check "... the log says the key file has group or world access" \
	grep -q 'has group or world access' "$LOG"
check "... and no server is running" stopped
chmod 600 "$REF"

t_rc 1 "without OPENSSL_CONF (and the reference file 0600), the server does not start" \
	start "${WITHOUT_PROVIDER[@]}"
check "... the log says it could not load the private key file" \
	grep -Eq "could not load private key file \"$REF\"" "$LOG"
check "... and no server is running" stopped

t "with OPENSSL_CONF in the postmaster's environment, the server starts" \
	start "${WITH_PROVIDER[@]}"
check "... and its log shows no failure" clean_since 0

t_out "psql sslmode=verify-full gets TLS (pg_stat_ssl.ssl = t)" t q "$(conn)" "$SSL_USED"
t_out "... and the server presented the imported certificate (SHA-256 fingerprint)" \
	"$SERVER_FP" served_fingerprint
t_err 2 "(control) without the CA, verify-full refuses the server" 'certificate verify failed' \
	q "$(conn | sed "s|sslrootcert=[^ ]*|sslrootcert=$PKI/client.crt|")" 'SELECT 1'

# A reload makes the postmaster load the key again, through the provider.
# "received SIGHUP" starts the postmaster's handler; a connection accepted
# after it is accepted once the handler (and its SSL reload) is done.
n=$(sighups)
lines=$(wc -l <"$LOG")
t "pg_ctl reload" pg_ctl reload
check "... the server takes the reload" wait_for more_sighups "$n"
t_out "... psql gets TLS after it" t q "$(conn)" "$SSL_USED"
check "... and the key loaded again without a failure" clean_since "$lines"

# With the host key away, the provider cannot open the vault at the reload:
# the server says so and keeps the key it has.
mv "$KMC_HOST_KEY" "$D/host.key.away"
n=$(sighups)
lines=$(wc -l <"$LOG")
t "pg_ctl reload while the host key is away" pg_ctl reload
check "... the SSL reload fails" wait_for since "$lines" 'SSL configuration was not reloaded'
check "... the log names the key file" since "$lines" "could not load private key file \"$REF\""
check "... the server is still running" running
t_out "... and still serves TLS with the key it loaded before" t q "$(conn)" "$SSL_USED"
mv "$D/host.key.away" "$KMC_HOST_KEY"

t "pg_ctl stop -m fast" pg_ctl stop -m fast -w -t 60
check "... and no server is running" stopped

# ---- a passphrase vault: ssl_passphrase_command reaches the provider --------------

PV=$D/pvault
secret_file "$D/vaultpw" 'the vault passphrase for postgres'
secret_file "$D/wrongpw" 'not the vault passphrase at all'
chown postgres:postgres "$D/vaultpw" "$D/wrongpw"
t "kmc init --protector passphrase as postgres (Argon2id 1 pass, 8 MiB)" \
	kmc_pg --vault "$PV" init --protector passphrase --passphrase-file "$D/vaultpw" \
	--argon2-ops 1 --argon2-mem 8
t "kmc import into the passphrase vault" \
	kmc_pg --vault "$PV" import --passphrase-file "$D/vaultpw" -c "$PKI/ca.crt" \
	-s "$PKI/server.crt" -k "$PKI/server.key" --password-file "$D/keypw"
PREF=$D/pserver.ref.pem
t "kmc ref writes its reference file" \
	kmc_pg --vault "$PV" ref server --out "$PREF" --passphrase-file "$D/vaultpw"
chmod 600 "$PREF"

KEYFILE=$PREF
PASSCMD="cat $D/wrongpw"
ssl_conf "$KEYFILE" "$PASSCMD"
t_rc 1 "with a passphrase command printing a wrong passphrase, the server does not start" \
	start "${WITH_PROVIDER[@]}"
check "... the log says it could not load the private key file" \
	grep -Eq "could not load private key file \"$PREF\"" "$LOG"
# PostgreSQL logs ERR_reason_error_string() only: the provider's
# explanation, which it puts in the error's data, never reaches the log.
check "... and kmc's reason (a wrong passphrase for the vault)" grep -Eq 'wrong (or missing vault )?passphrase' "$LOG"
check "... and no server is running" stopped

PASSCMD="cat $D/vaultpw"
ssl_conf "$KEYFILE" "$PASSCMD"
t "with ssl_passphrase_command printing the vault passphrase, the server starts" \
	start "${WITH_PROVIDER[@]}"
t_out "... psql sslmode=verify-full gets TLS" t q "$(conn)" "$SSL_USED"
t_out "... on the imported certificate" "$SERVER_FP" served_fingerprint
t "pg_ctl stop -m fast" pg_ctl stop -m fast -w -t 60
check "... and no server is running" stopped

done_testing
