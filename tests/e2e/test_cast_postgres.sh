#!/usr/bin/env bash
# test_cast_postgres.sh - CAST's PostgreSQL mutual TLS made entirely in
# the vault: a root CA (kmc ca init), a server certificate with CN = the
# host name and a client certificate with CN = the database user (kmc
# cert issue), no key ever in the clear on disk. PostgreSQL 15 serves
# the encrypted key copy with ssl_passphrase_command = kmc password get,
# ssl_ca_file the CA's certificate and hostssl ... cert
# clientcert=verify-full; psql connects with sslmode=verify-full, its
# client key through a key-reference file (kmc ref) and the kmc OpenSSL
# provider; the client key exported for JDBC (client.pk8, PKCS#8 DER),
# as PEM and as a PFX opens in openssl, the PFX with the password the
# vault keeps. A client of another CA, one without a certificate and one
# for another user are refused; then the CA revokes the client, its CRL
# (kmc ca crl) reaches the server through kmc crl update, and the
# client is refused after a reload.
#
# PostgreSQL refuses to run as root, so the server, initdb, every kmc
# command and psql run as the postgres system user, in a temp dir of
# their own.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

pg_require
pg_private_dir /tmp/kmc-cast.XXXXXX
V=$D/vault
kmc_pg() { as_pg "$K" --vault "$V" "$@"; }

DBUSER=cast_user
KD=$V/keys/pg	# the server bundle's keys folder
CD=$V/keys/client

# ---- the PKI, born in the vault -----------------------------------------------------

t_err 0 "kmc init as postgres" "created vault $V" kmc_pg init
t "kmc ca init castroot: the root CA" \
	kmc_pg ca init castroot --subject "/CN=CAST Root CA/O=Example" --days 3650
t "kmc cert issue pg --server, CN=localhost" \
	kmc_pg cert issue pg --ca castroot --server --subject /CN=localhost --days 30
t "kmc cert issue client --client, CN=$DBUSER" \
	kmc_pg cert issue client --ca castroot --client --subject "/CN=$DBUSER" --days 30
check "the server certificate passes -x509_strict -purpose sslserver" \
	openssl verify -x509_strict -purpose sslserver -CAfile "$KD/ca.crt" "$KD/server.crt"
check "the client certificate passes -x509_strict -purpose sslclient" \
	openssl verify -x509_strict -purpose sslclient -CAfile "$CD/ca.crt" "$CD/server.crt"
check "the server's keys folder copy of its key is encrypted" \
	grep -q "BEGIN ENCRYPTED $PEM_PK" "$KD/server.key"
check "no file under the vault holds a key in the clear" \
	bash -c "! grep -rlE 'BEGIN (EC |RSA )?$PEM_PK' '$V'"

# A second CA, whose client must be refused.
t "kmc ca init other: another CA" kmc_pg ca init other --subject "/CN=Other CA"
t "kmc cert issue stranger --client from it, CN=$DBUSER" \
	kmc_pg cert issue stranger --ca other --client --subject "/CN=$DBUSER"

# The client's key through a key-reference file and the provider, 0600
# as libpq wants it.
t "kmc ref client --out client.ref" kmc_pg ref client --out "$D/client.ref"
t "kmc ref stranger --out stranger.ref" kmc_pg ref stranger --out "$D/stranger.ref"
chmod 600 "$D/client.ref" "$D/stranger.ref"
check "the reference file holds no key" \
	bash -c "grep -q 'BEGIN KMC KEY REFERENCE' '$D/client.ref' && ! grep -q 'PRIVATE KEY' '$D/client.ref'"

# ---- the cluster --------------------------------------------------------------------

t "initdb as postgres" as_pg "$PGBIN/initdb" -D "$DATA" -U postgres \
	--auth-local=trust --auth-host=reject --no-sync
P=$(free_port)
check "a free loopback port was found" test -n "$P"
ssl_conf() {
	cat >"$DATA/kmc_tls.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$D'
ssl = on
ssl_cert_file = '$KD/server.crt'
ssl_key_file = '$KD/server.key'
ssl_ca_file = '$KD/ca.crt'
${1:+ssl_crl_file = '$1'}
ssl_passphrase_command = '$K --vault $V password get pg --host-key $KMC_HOST_KEY'
ssl_passphrase_command_supports_reload = on
CONF
	chown postgres:postgres "$DATA/kmc_tls.conf"
}
echo "include 'kmc_tls.conf'" >>"$DATA/postgresql.conf"
cat >"$DATA/pg_hba.conf" <<HBA
local    all  all                trust
hostssl  all  all  127.0.0.1/32  cert clientcert=verify-full
HBA
ssl_conf
t "the server starts on the vault's key (ssl_passphrase_command)" \
	pg_start ssl_conf
running || sed 's/^/#   log: /' "$LOG" | tail -n 20
check "... and its log shows no failure" clean_since 0
t "the role $DBUSER is created (over the socket)" \
	as_pg "$PGBIN/psql" -X -h "$D" -p "$P" -d postgres -v ON_ERROR_STOP=1 \
	-c "CREATE ROLE $DBUSER LOGIN"

# conn CERT KEYREF [USER]: a verify-full connection string.
conn() {
	printf "host=localhost hostaddr=127.0.0.1 port=%s dbname=postgres user=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s connect_timeout=10" \
		"$P" "${3:-$DBUSER}" "$CD/ca.crt" "$1" "$2"
}
# q CONN SQL: psql as postgres, the provider loaded for the client key.
q() { as_pg env -u KMC_HOST_KEY OPENSSL_CONF="$CONF" timeout 30 "$PGBIN/psql" -X -At "$1" -c "$2"; }
GOOD=$(conn "$CD/server.crt" "$D/client.ref")
SSL_USED='SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'

t_out "psql sslmode=verify-full, the client key from the vault, gets TLS" t q "$GOOD" "$SSL_USED"
t_out "... logged in as the client certificate's CN" "$DBUSER" q "$GOOD" 'SELECT current_user'
t_out "... the server saw the client certificate the vault issued" "/CN=$DBUSER" \
	q "$GOOD" 'SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
t_out "... and its serial (decimal in pg_stat_ssl)" \
	"$(python3 -c "print(int('$(openssl x509 -in "$CD/server.crt" -noout -serial | cut -d= -f2)', 16))")" \
	q "$GOOD" 'SELECT client_serial FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
t_err 2 "a client of another CA is refused" 'alert unknown ca' \
	q "$(conn "$V/keys/stranger/server.crt" "$D/stranger.ref")" 'SELECT 1'
t_err 2 "a client without a certificate is refused" 'requires a valid client certificate' \
	q "$(conn "$D/none.crt" "$D/none.key")" 'SELECT 1'
t_err 2 "the client certificate does not log in as another user" \
	'certificate authentication failed for user "postgres"' \
	q "$(conn "$CD/server.crt" "$D/client.ref" postgres)" 'SELECT 1'
t_err 2 "verify-full refuses a server name the certificate does not name" \
	'does not match host name' \
	q "$(conn "$CD/server.crt" "$D/client.ref" | sed 's/host=localhost/host=cast-wrong-name/')" 'SELECT 1'

# ---- the client key for JDBC and for Java: PKCS#8 DER, PEM, PFX ---------------------

X=$D/export	# the client's files, postgres' own
install -d -m 700 -o postgres -g postgres "$X"
t "kmc export client --format pkcs8-der --no-password: client.pk8 for JDBC" \
	kmc_pg export client --format pkcs8-der --no-password --out "$X/client.pk8"
check "client.pk8 is 0600" test "$(stat -c %a "$X/client.pk8")" = 600
check "openssl pkey -inform DER opens client.pk8: the client certificate's key" \
	test "$(openssl pkey -inform DER -in "$X/client.pk8" -pubout 2>/dev/null | sha256sum)" = \
	"$(openssl x509 -in "$CD/server.crt" -noout -pubkey | sha256sum)"
t "kmc export client --format pkcs8-der --password-item: an encrypted client.pk8" \
	kmc_pg export client --format pkcs8-der --password-item client/pk8 --out "$X/enc.pk8"
check "... which opens only with the password the vault made and keeps" \
	bash -c "! openssl pkey -inform DER -in '$X/enc.pk8' -passin pass:wrong -noout 2>/dev/null &&
		openssl pkey -inform DER -in '$X/enc.pk8' -noout \
		-passin file:<(runuser -u postgres -- '$K' --vault '$V' password get client/pk8)"
t "kmc export client --format pkcs8-pem --no-password --mode 0640" \
	kmc_pg export client --format pkcs8-pem --no-password --mode 0640 --out "$X/client.key"
check "client.key is 0640" test "$(stat -c %a "$X/client.key")" = 640
t "kmc export client --format pkcs12: the PFX, its password kept in the vault" \
	kmc_pg export client --format pkcs12 --out "$X/client.pfx"
check "openssl pkcs12 -info opens the PFX with the stored password (never on argv)" \
	bash -c "openssl pkcs12 -info -in '$X/client.pfx' -nodes \
		-passin file:<(runuser -u postgres -- '$K' --vault '$V' password get client/keystore-password) \
		2>/dev/null >'$X/pfx.txt' && grep -q 'BEGIN $PEM_PK' '$X/pfx.txt' &&
		grep -q 'subject=CN = $DBUSER' '$X/pfx.txt'"
check "... and its key is the client's" \
	test "$(openssl pkey -in "$X/pfx.txt" -pubout 2>/dev/null | sha256sum)" = \
	"$(openssl x509 -in "$CD/server.crt" -noout -pubkey | sha256sum)"
rm -f "$X/pfx.txt"
# libpq wants the key file 0600 and its user's: as postgres, the PEM export.
chmod 600 "$X/client.key"
t_out "psql verify-full with the exported PEM key (no provider) logs in too" "$DBUSER" \
	as_pg env -u OPENSSL_CONF timeout 30 "$PGBIN/psql" -X -At \
	"$(conn "$CD/server.crt" "$X/client.key")" -c 'SELECT current_user'

# ---- the CA revokes the client ---------------------------------------------------------

t "kmc ca revoke castroot client --reason keyCompromise" \
	kmc_pg ca revoke castroot client --reason keyCompromise
t "kmc ca crl castroot --out revoked.crl" kmc_pg ca crl castroot --out "$D/revoked.crl"
t "kmc crl update pg -r revoked.crl: the server bundle takes the CA's CRL" \
	kmc_pg crl update pg -r "$D/revoked.crl"
ssl_conf "$KD/ca.crl"
n=$(sighups)
lines=$(wc -l <"$LOG")
t "pg_ctl reload, ssl_crl_file the bundle's CRL" pg_ctl reload
check "... the server takes the reload" wait_for more_sighups "$n"
check "... its SSL configuration reloaded without a failure" clean_since "$lines"
t_err 2 "the revoked client is refused now" 'alert certificate revoked' q "$GOOD" 'SELECT 1'
t "kmc cert issue client2 --client, CN=$DBUSER: a new certificate" \
	kmc_pg cert issue client2 --ca castroot --client --subject "/CN=$DBUSER" --days 30
t "kmc ref client2 --out client2.ref" kmc_pg ref client2 --out "$D/client2.ref"
chmod 600 "$D/client2.ref"
t_out "the new client gets in" "$DBUSER" \
	q "$(conn "$V/keys/client2/server.crt" "$D/client2.ref")" 'SELECT current_user'

t "pg_ctl stop -m fast" pg_ctl stop -m fast -w -t 60
check "... and no server is running" stopped

done_testing
