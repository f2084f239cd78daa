#!/usr/bin/env bash
# test_postgres.sh - a real PostgreSQL server whose TLS key password lives
# in a kmc vault, as docs/integrations/postgresql.md sets it up: ssl = on
# with the encrypted key copy that `kmc import` writes, ssl_passphrase_command
# calling `kmc password get`, ssl_ca_file and ssl_crl_file from the same
# import, and `hostssl ... cert` authentication; psql connects with
# sslmode=verify-full and a client certificate. Reloads, a failing reload,
# a CRL update and a key rotation with `kmc import --replace` follow.
#
# PostgreSQL refuses to run as root, so the server, initdb and every kmc
# command that touches the vault run as the postgres system user, on files
# in a temp dir of their own; psql runs as root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

for v in $(compgen -e | grep '^PG'); do unset "$v"; done
PGBIN=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
check "PostgreSQL's server programs are installed (tools/deps.sh installs them)" \
	test -x "${PGBIN:-/nonexistent}/postgres" -a -x "$PGBIN/initdb" -a -x "$PGBIN/psql"
require_root_and_user "the test runs as root with a postgres system user" postgres

# ---- a private place the postgres user owns ----------------------------------------------

D=$(user_tmpdir postgres /tmp/kmc-pg.XXXXXX)
DATA=$D/data
LOG=$D/postgres.log
V=$D/vault
K=$D/kmc # a copy: the build dir may not be open to postgres
install -m 755 -o postgres -g postgres "$KMC" "$K"
export KMC_HOST_KEY=$D/host.key

kmc_pg() { as_pg "$K" --vault "$V" "$@"; }
trap pg_cleanup EXIT
trap 'exit 1' INT TERM HUP

# wait_for CMD...: run CMD every half second until it succeeds, 60 tries
# (30 s; this test keeps its own, slower poll rather than servers.sh's 20 s).
wait_for() {
	local _
	for _ in $(seq 60); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# A free loopback port, taken at random (servers.sh): two runs side by
# side (two checkouts, or check and check-valgrind) then do not both try
# the first free one of a fixed range, where one of them fails to bind.
P=$(free_port)
check "a free loopback port was found" test -n "$P"

# ---- the PKI and the key password ----------------------------------------------------------

# The inputs stay root's: the directory and the key open to the postgres
# group only (key mode 0640), the password file postgres' own and 0600.
KEYPW='pg s3rver key; "quoted" & spaced'
mkdir -m 750 "$D/pki"
chgrp postgres "$D/pki"
t "tools/mkpki.sh makes a CA, an encrypted server key and a client certificate" \
	bash "$KMC_TOP/tools/mkpki.sh" "$D/pki" "$KEYPW"
chgrp postgres "$D/pki/server.key"
chmod 640 "$D/pki/server.key"
secret_file "$D/keypw" "$KEYPW"
chown postgres:postgres "$D/keypw"
PKI=$D/pki

# ---- the vault, as postgres ---------------------------------------------------------------------

t_err 0 "kmc init as postgres creates the vault" "created vault $V" kmc_pg init
check "the host key is postgres' and 0400" \
	test "$(stat -c '%U %a' "$KMC_HOST_KEY")" = "postgres 400"
t_err 0 "kmc import stores the bundle pg (root-owned 0640 key, with a CRL)" \
	"imported pg into $V" \
	kmc_pg import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
	-r "$PKI/ca.crl" --password-file "$D/keypw" --name pg
t_out "kmc password get pg prints the key password alone" "$KEYPW" \
	kmc_pg password get pg
t_out "... and without \$KMC_HOST_KEY, through the host key path the vault recorded" \
	"$KEYPW" as_pg env -u KMC_HOST_KEY "$K" --vault "$V" password get pg
KD=$V/keys/pg
for f in ca.crt server.crt server.key ca.crl; do
	check "the keys folder holds $f, postgres' and 0400" \
		test "$(stat -c '%U %a' "$KD/$f")" = "postgres 400"
done
check "the server.key copy is still encrypted" \
	grep -q 'BEGIN ENCRYPTED[ ]PRIVATE KEY' "$KD/server.key"
check "... and does not open without the password" \
	bash -c '! openssl pkey -in "$1" -passin pass:wrong -noout' _ "$KD/server.key"
check "... but opens with the password from the vault" \
	openssl pkey -in "$KD/server.key" -passin "pass:$KEYPW" -noout

# ---- the cluster ------------------------------------------------------------------------------------

t "initdb as postgres" as_pg "$PGBIN/initdb" -D "$DATA" -U postgres \
	--auth-local=trust --auth-host=reject --no-sync

# ssl_conf VAULT: the TLS settings, with the passphrase command on VAULT.
ssl_conf() {
	cat >"$DATA/kmc_tls.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$D'
ssl = on
ssl_cert_file = '$KD/server.crt'
ssl_key_file = '$KD/server.key'
ssl_ca_file = '$KD/ca.crt'
ssl_crl_file = '$KD/ca.crl'
ssl_passphrase_command = '$K --vault $1 password get pg --host-key $KMC_HOST_KEY'
ssl_passphrase_command_supports_reload = on
CONF
	chown postgres:postgres "$DATA/kmc_tls.conf"
}
echo "include 'kmc_tls.conf'" >>"$DATA/postgresql.conf"
cat >"$DATA/pg_hba.conf" <<HBA
local    all  all                trust
hostssl  all  all  127.0.0.1/32  cert
HBA

# The control: a passphrase command that cannot work keeps the server down.
ssl_conf "$D/no-such-vault"
t_rc 1 "with a wrong vault path in ssl_passphrase_command the server does not start" \
	pg_ctl start -w -t 60 -l "$LOG"
check "... the log names the failed passphrase command" \
	grep -Eq 'FATAL: +command ".*--vault '"$D"'/no-such-vault password get pg.*" failed' "$LOG"
check "... and kmc's reason" grep -q "$D/no-such-vault does not exist" "$LOG"
check "... and no server is running" stopped
mv "$LOG" "$LOG.control"

ssl_conf "$V"
t "with the vault, the server starts" pg_start ssl_conf "$V"
running || sed 's/^/#   log: /' "$LOG" | tail -n 20	# why not, for a failed run
check "... and its log shows no failure" clean_since 0

t "the role named after the client certificate's CN is created (over the socket)" \
	as_pg "$PGBIN/psql" -X -h "$D" -p "$P" -d postgres -v ON_ERROR_STOP=1 \
	-c 'CREATE ROLE "kmc test client" LOGIN'

# psql as root: its client key must be root's and 0600.
install -m 600 -o root -g root "$PKI/client.key" "$D/client.key"
# conn CA CERT KEY [USER [HOST]]: a verify-full connection string.
conn() {
	printf "host=%s hostaddr=127.0.0.1 port=%s dbname=postgres user='%s' sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s connect_timeout=10" \
		"${5:-localhost}" "$P" "${4:-kmc test client}" "$1" "$2" "$3"
}
GOOD=$(conn "$PKI/ca.crt" "$PKI/client.crt" "$D/client.key")
q() { "$PGBIN/psql" -X -At "$1" -c "$2"; }
SSL_USED='SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'

t_out "psql with sslmode=verify-full and the client certificate gets TLS" t \
	q "$GOOD" "$SSL_USED"
t_out "... authenticated as the certificate's CN" "kmc test client" \
	q "$GOOD" 'SELECT current_user'
t_out "... and the server saw the client certificate" "/CN=kmc test client" \
	q "$GOOD" 'SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
t_out "... on the certificate kmc imported" \
	"$(openssl x509 -in "$PKI/server.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)" \
	bash -c 'timeout 60 openssl s_client -starttls postgres -connect "127.0.0.1:$1" \
		-CAfile "$2" -verify_return_error </dev/null 2>/dev/null |
		openssl x509 -noout -serial | cut -d= -f2 | tr A-F a-f' _ "$P" "$PKI/ca.crt"

t_err 2 "a connection without a client certificate is refused" \
	'requires a valid client certificate' \
	q "$(conn "$PKI/ca.crt" "$D/none.crt" "$D/none.key")" 'SELECT 1'
t_err 2 "a connection without TLS is refused" 'no pg_hba.conf entry.*no encryption' \
	q "host=127.0.0.1 port=$P dbname=postgres user='kmc test client' sslmode=disable connect_timeout=10" 'SELECT 1'
t_err 2 "the client certificate does not log in as another user" \
	'certificate authentication failed for user "postgres"' \
	q "$(conn "$PKI/ca.crt" "$PKI/client.crt" "$D/client.key" postgres)" 'SELECT 1'
t_err 2 "verify-full refuses a host name the server certificate does not name" \
	'does not match host name "kmc-wrong-name"' \
	q "$(conn "$PKI/ca.crt" "$PKI/client.crt" "$D/client.key" "" kmc-wrong-name)" 'SELECT 1'

# ---- reloads ----------------------------------------------------------------------------------------

n=$(sighups)
lines=$(wc -l <"$LOG")
t "pg_ctl reload" pg_ctl reload
check "... the server takes the reload" wait_for more_sighups "$n"
t_out "... and still serves TLS to the client certificate" t q "$GOOD" "$SSL_USED"
check "... its SSL configuration reloaded without a failure" clean_since "$lines"

# With the host key away, the passphrase command fails at the reload: the
# server says so and keeps the key it has.
mv "$KMC_HOST_KEY" "$D/host.key.away"
lines=$(wc -l <"$LOG")
t "pg_ctl reload while the host key is away" pg_ctl reload
check "... the passphrase command runs again at the reload, and fails" \
	wait_for since "$lines" 'SSL configuration was not reloaded'
check "... the log names the failed command" since "$lines" 'command ".*password get pg.*" failed'
check "... and kmc's reason" since "$lines" "host key $KMC_HOST_KEY does not exist"
check "... the server is still running" running
t_out "... and still serves TLS with the key it loaded before" t q "$GOOD" "$SSL_USED"
mv "$D/host.key.away" "$KMC_HOST_KEY"

# ---- a CRL update ------------------------------------------------------------------------------------

t "the CA revokes the client certificate" "$PKI/crl.sh" client.crt
t_err 0 "kmc crl update pg takes the new CRL" "CRL of pg is now" \
	kmc_pg crl update pg -r "$PKI/ca.crl"
n=$(sighups)
t "pg_ctl reload" pg_ctl reload
check "... the server takes the reload" wait_for more_sighups "$n"
t_err 2 "... and refuses the revoked client certificate" 'certificate revoked' \
	q "$GOOD" 'SELECT 1'

# ---- rotation: a new CA, server key, key password and client certificate --------------------------

KEYPW2='rotated k3y, v2'
mkdir -m 750 "$D/pki2"
chgrp postgres "$D/pki2"
t "tools/mkpki.sh makes the next PKI" bash "$KMC_TOP/tools/mkpki.sh" "$D/pki2" "$KEYPW2"
PKI2=$D/pki2
chgrp postgres "$PKI2/server.key"
chmod 640 "$PKI2/server.key"
secret_file "$D/keypw2.root" "$KEYPW2" # root's: handed over on a descriptor
t_err 8 "kmc import without --replace does not overwrite pg" "add --replace" \
	kmc_pg import -c "$PKI2/ca.crt" -s "$PKI2/server.crt" -k "$PKI2/server.key" \
	-r "$PKI2/ca.crl" --password-fd 3 --name pg 3<"$D/keypw2.root"
t_err 0 "kmc import --replace supersedes pg" "imported pg into $V" \
	kmc_pg import --replace -c "$PKI2/ca.crt" -s "$PKI2/server.crt" \
	-k "$PKI2/server.key" -r "$PKI2/ca.crl" --password-fd 3 --name pg 3<"$D/keypw2.root"
t_out "kmc password get pg prints the new key password" "$KEYPW2" kmc_pg password get pg
check "the server.key copy is the new key, still encrypted" \
	openssl pkey -in "$KD/server.key" -passin "pass:$KEYPW2" -noout

install -m 600 -o root -g root "$PKI2/client.key" "$D/client2.key"
GOOD2=$(conn "$PKI2/ca.crt" "$PKI2/client.crt" "$D/client2.key")
t_err 2 "before the reload the server still has the old certificate" \
	'certificate verify failed' q "$GOOD2" 'SELECT 1'
lines=$(wc -l <"$LOG")
t "pg_ctl reload" pg_ctl reload
check "... the server loads the new key, opened by the passphrase command" \
	wait_for q "$GOOD2" 'SELECT 1'
t_out "... psql verify-full with the new CA and client certificate gets TLS" t \
	q "$GOOD2" "$SSL_USED"
check "... the reload logged no failure" clean_since "$lines"
t_err 2 "... the old CA no longer verifies the server" 'certificate verify failed' \
	q "$(conn "$PKI/ca.crt" "$PKI/client.crt" "$D/client.key")" 'SELECT 1'
t_err 2 "... and the old client certificate is refused" 'unknown ca|certificate verify failed' \
	q "$(conn "$PKI2/ca.crt" "$PKI/client.crt" "$D/client.key")" 'SELECT 1'

# ---- a restart and the stop -------------------------------------------------------------------

t "pg_ctl restart runs the passphrase command at start again" \
	pg_ctl restart -m fast -w -t 60 -l "$LOG"
t_out "... and serves TLS on the rotated key" t q "$GOOD2" "$SSL_USED"
t "kmc status: the vault is sound" kmc_pg status
t "pg_ctl stop -m fast" pg_ctl stop -m fast -w -t 60
check "... and no server is running" stopped

done_testing
