# shellcheck shell=bash
# servers.sh - shared set-up for the end-to-end tests that run real servers
# (nginx, Apache, HAProxy, openssl s_server, Mosquitto, PostgreSQL) with
# keys in a kmc vault. Source it after lib.sh; it defines functions only
# (and the empty SPIDS, SPID, PORT, SLOG a test's servers fill in).
#
# The functions read the test's globals where the tests all use the same
# ones: $T, $KMC, $V, $PKI, kmc() (kmc on $V); $PORT, $SLOG, $SPID and
# $SPIDS for the server in the background; $D, $DATA, $LOG and $PGBIN for
# PostgreSQL.

# ---- OpenSSL configuration -----------------------------------------------------------

# write_openssl_conf FILE [MODULE]: an OPENSSL_CONF file activating the
# default provider and, if MODULE (a kmc.so) is given, the kmc provider.
# Without MODULE it is the control: the default provider alone, so no
# system-wide configuration can bring kmc in behind the test's back.
write_openssl_conf() {
	{
		printf '%s\n' 'openssl_conf = openssl_init' '[openssl_init]' \
			'providers = provider_sect' '[provider_sect]' 'default = default_sect'
		if [ -n "${2:-}" ]; then echo 'kmc = kmc_sect'; fi
		printf '%s\n' '[default_sect]' 'activate = 1'
		if [ -n "${2:-}" ]; then printf '%s\n' '[kmc_sect]' "module = $2" 'activate = 1'; fi
	} >"$1"
}

# ---- ports and processes ------------------------------------------------------------------

SPIDS=()	# every server started, so that stop_all can stop them all
SPID=
PORT=
SLOG=

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a random loopback port in 20000-59999 that nothing answers on.
free_port() {
	local p _
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		listening "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# wait_exit PID: wait (bounded) for PID to end; its exit status, or 124
# if it is still running (then it is killed).
wait_exit() {
	local pid=$1 _
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# stop_tree PID: SIGTERM, bounded; children that outlive PID are killed
# too. PID's exit status, or 124 if it had to be killed.
stop_tree() {
	local pid=$1 kids c rc
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	kill -TERM "$pid" 2>/dev/null
	wait_exit "$pid"
	rc=$?
	for c in $kids; do
		kill -0 "$c" 2>/dev/null && kill -KILL "$c" 2>/dev/null
	done
	return "$rc"
}

# stop_server PID: stop_tree; a test whose server exits non-zero on SIGTERM
# redefines it.
stop_server() { stop_tree "$1"; }

# stop_all: stop every server in SPIDS that still runs (for the EXIT trap).
stop_all() {
	local pid
	for pid in "${SPIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && stop_server "$pid"
	done
	return 0
}

# wait_listening: after a server was started in the background as $SPID
# on $PORT, wait (20 s) until the port accepts connections: 0. 1 if the
# server exited first (reaped: the caller may retry on another port), 2 if
# it kept running without listening (then it is stopped).
wait_listening() {
	local _
	for _ in $(seq 200); do
		listening "$PORT" && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SPID" 2>/dev/null; then
		stop_server "$SPID"
		return 2
	fi
	wait "$SPID"
	return 1
}

# start_s_server NAME CMD...: CMD (an openssl s_server) with -accept
# 127.0.0.1:0 -www, on a port the kernel picks, read back from its ACCEPT
# line into PORT; SPID is its PID. Bounded by timeout; stdout in
# $T/NAME.out, stderr in $T/NAME.log (SLOG).
start_s_server() {
	local name=$1 _
	shift
	SLOG=$T/$name.log
	PORT=
	timeout 300 "$@" -accept 127.0.0.1:0 -www >"$T/$name.out" 2>"$SLOG" </dev/null &
	SPID=$!
	SPIDS+=("$SPID")
	for _ in $(seq 200); do
		PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]\+\)$/\1/p' "$T/$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$SPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# nginx_bg NAME OPENSSL_CONF CONF_CMD...: $NGINX with the configuration
# $N/NAME.conf in the background, with OPENSSL_CONF and no $KMC_HOST_KEY
# (as a service has: the vault's recorded host key path is used), on a
# free PORT, which CONF_CMD... writes into $N/NAME.conf before each try;
# SPID is the master's PID (nginx itself is the background job, not a
# subshell), SLOG its error log. Succeeds once the port accepts
# connections; fails if nginx exits first (another free port is tried if
# it lost the port to someone else) or does not listen in 20 s.
nginx_bg() {
	local name=$1 conf=$2 _
	shift 2
	SLOG=$N/$name.log
	for _ in 1 2 3; do
		PORT=$(free_port) || return 1
		"$@"
		: >"$SLOG"
		env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$NGINX" -p "$N/" \
			-c "$N/$name.conf" -e "$SLOG" -g 'daemon off;' \
			</dev/null >"$N/$name.out" 2>&1 &
		SPID=$!
		SPIDS+=("$SPID")
		wait_listening
		case $? in 0) return 0 ;; 2) return 1 ;; esac
		grep -q 'Address already in use' "$SLOG" || return 1
	done
	return 1
}

# wait_for CMD...: run CMD every tenth of a second until it succeeds (20 s).
wait_for() {
	local _
	for _ in $(seq 200); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---- server logs and processes ----------------------------------------------------------

# logged REGEX: a line of the server log $SLOG matches REGEX.
logged() { grep -Eq -- "$1" "$SLOG"; }

# children_run_as USER PID: PID has children, and all of them run as USER
# (polled: the server forks them after it starts listening).
children_run_as() {
	local u _
	for _ in $(seq 100); do
		u=$(ps -o user= --ppid "$2" | sort -u)
		[ "$u" = "$1" ] && return 0
		sleep 0.1
	done
	echo "children of $2 run as: ${u:-(none)}" >&2
	return 1
}

# re PATH: PATH regex-quoted for grep -E.
re() { printf '%s' "$1" | sed 's/[][\.*^$?+(){}|/]/\\&/g'; }

# ---- TLS clients ---------------------------------------------------------------------------

# handshake NAME [CA]: openssl s_client to $PORT that sends nothing,
# verifying the chain against CA (default the test CA) and the name
# localhost; stdout in $T/NAME.out (with the server certificate), stderr in
# $T/NAME.err.
handshake() {
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
		-verify_hostname localhost -CAfile "${2:-$PKI/ca.crt}" \
		-verify_return_error </dev/null >"$T/$1.out" 2>"$T/$1.err"
}
# hello NAME [ARGS...]: one openssl s_client run with ARGS to
# 127.0.0.1:$PORT that verifies the server, as localhost, against
# $HELLO_CA (default the test CA, $PKI/ca.crt); output in $T/NAME.out,
# exit status in $T/NAME.rc. (A TLS 1.3 client prints the cipher of the
# ServerHello even when the handshake fails after it: only the status
# says it completed.) cipher_is NAME CIPHER: it completed with CIPHER;
# failed NAME: it did not complete.
hello() {
	local name=$1
	shift
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
		-verify_hostname localhost -CAfile "${HELLO_CA:-$PKI/ca.crt}" \
		-verify_return_error "$@" </dev/null >"$T/$name.out" 2>&1
	echo $? >"$T/$name.rc"
}
cipher_is() { [ "$(cat "$T/$1.rc")" = 0 ] && grep -q "Cipher is $2" "$T/$1.out"; }
failed() { [ "$(cat "$T/$1.rc")" != 0 ]; }
# fingerprint PEM: the SHA-256 fingerprint of the (first) certificate in PEM.
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
# presented_subject NAME: the subject of the certificate handshake NAME saw.
presented_subject() { openssl x509 -in "$T/$1.out" -noout -subject -nameopt RFC2253; }
# served NAME CERT: the certificate handshake NAME saw is CERT.
served() { [ "$(fingerprint "$T/$1.out")" = "$(fingerprint "$2")" ]; }
# verified NAME: handshake NAME verified the server.
verified() { grep -q 'Verify return code: 0 (ok)' "$T/$1.out"; }

# https_get [CA]: the body of GET $URL_PATH (default /) over TLS to
# localhost:$PORT, which curl checks against the certificate; --fail: an
# HTTP error status is a failure.
https_get() {
	timeout 20 curl -sS --fail --resolve "localhost:$PORT:127.0.0.1" \
		--cacert "${1:-$PKI/ca.crt}" "https://localhost:$PORT${URL_PATH:-/}"
}
# https_status: the HTTP status of that GET, checked against the test CA.
https_status() {
	timeout 20 curl -sS -o /dev/null -w '%{http_code}' \
		--resolve "localhost:$PORT:127.0.0.1" --cacert "$PKI/ca.crt" \
		"https://localhost:$PORT${URL_PATH:-/}"
}

# ---- the vault: server and gone ------------------------------------------------------------

# vault_with_server_and_gone: tools/mkpki.sh makes $PKI (key password in
# $KEYPW), then three checks: kmc init on $V, and the bundle imported as
# server and again as gone (for a reference to an item removed later).
vault_with_server_and_gone() {
	"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
	KEYPW=$T/keypw
	secret_file "$KEYPW" 'server-key-password'
	t "init a vault with the host protector" kmc init
	t "import CA, server certificate and the encrypted key as server" \
		kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
		--password-file "$KEYPW"
	t "import the same material as gone (removed below)" \
		kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
		--password-file "$KEYPW" --name gone
}

# refs_server_and_gone REF GONE: three checks: kmc ref writes REF for
# server and GONE for gone, then gone is removed from the vault.
refs_server_and_gone() {
	t "kmc ref server --out writes the key reference" kmc ref server --out "$1"
	t "kmc ref gone --out writes one for gone" kmc ref gone --out "$2"
	t "kmc rm gone removes that bundle: its reference now names no item" kmc rm gone
}

# ---- rotation ------------------------------------------------------------------------------------

# rotate_server_key: a second PKI in $PKI2, imported over server with
# kmc import --replace (one check).
rotate_server_key() {
	PKI2=$T/pki2
	"$KMC_TOP/tools/mkpki.sh" "$PKI2" >/dev/null
	t "kmc import --replace stores a new CA, certificate and key as server" \
		kmc import --replace -c "$PKI2/ca.crt" -s "$PKI2/server.crt" \
		-k "$PKI2/server.key" --password-file "$KEYPW"
}

# new_key_served: a handshake that verifies against the new CA only.
new_key_served() { handshake rotated "$PKI2/ca.crt" && served rotated "$PKI2/server.crt"; }

# await_new_key PID: poll (60 s) until new_key_served three times in a
# row, or PID is gone. Once: an old worker, still finishing while the new
# ones start, may take the next handshake with the old key.
await_new_key() {
	local _ row=0
	for _ in $(seq 300); do
		if new_key_served; then
			row=$((row + 1))
			[ "$row" -ge 3 ] && break
			continue
		fi
		row=0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
}

# ---- a system user's private place -------------------------------------------------------------

# require_root_and_user DESC USER: a check that the test runs as root and
# USER exists; if that or any earlier check failed, the test ends here.
require_root_and_user() {
	check "$1" bash -c '[ "$(id -u)" = 0 ] && id -u "$1"' _ "$2"
	if [ "$_fail" -ne 0 ]; then
		done_testing
		exit
	fi
}

# user_tmpdir USER TEMPLATE: a new directory from mktemp -d TEMPLATE, 0700
# and USER's; prints its path.
user_tmpdir() {
	local d
	d=$(mktemp -d "$2") || return 1
	chmod 700 "$d"
	chown "$1:$1" "$d"
	echo "$d"
}

# ---- PostgreSQL in $D, run as postgres ----------------------------------------------------------

# pg_require [FILE]: PGBIN ($PG_BINDIR, else the newest PostgreSQL
# installed), every PG* variable unset so that psql and pg_ctl see only
# what the test gives them, and root with a postgres system user; without
# PostgreSQL's programs (or FILE, another thing the suite needs) the suite
# ends with a skip line.
pg_require() {
	local prog v
	PGBIN=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
	for v in $(compgen -e | grep '^PG'); do unset "$v"; done
	for prog in postgres initdb pg_ctl psql; do
		if [ ! -x "${PGBIN:-/nonexistent}/$prog" ] || { [ -n "${1:-}" ] && [ ! -e "$1" ]; }; then
			echo "skip: $prog${1:+ or $1} not installed"
			done_testing
			exit
		fi
	done
	require_root_and_user "the test runs as root with a postgres system user" postgres
}

# pg_private_dir TEMPLATE: D, a new temp dir of the postgres user's own
# (pg_cleanup removes it: trapped at EXIT here), with DATA and LOG in it;
# copies of kmc (K) and of the provider (PROV, its vault code beside it),
# as the build dir may not be open to postgres; KMC_HOST_KEY in D; and
# CONF, an OPENSSL_CONF loading the default provider and that kmc.so.
pg_private_dir() {
	D=$(user_tmpdir postgres "$1") || exit 1
	trap pg_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	DATA=$D/data
	LOG=$D/postgres.log
	K=$D/kmc
	PROV=$D/provider/kmc.so
	install -m 755 "$KMC" "$K"
	install -d -m 755 "$D/provider" "$D/provider/kmc"
	install -m 755 "$KMC_BUILD/provider/kmc.so" "$PROV"
	install -m 755 "$KMC_BUILD/provider/kmc/vault.so" "$D/provider/kmc/vault.so"
	export KMC_HOST_KEY=$D/host.key
	CONF=$D/openssl-kmc.cnf
	write_openssl_conf "$CONF" "$PROV"
	chmod 644 "$CONF"
}

# as_pg CMD...: CMD as the postgres user, in $D.
as_pg() { (cd "$D" && runuser -u postgres -- "$@"); }
pg_ctl() { as_pg "$PGBIN/pg_ctl" -D "$DATA" "$@"; }
running() { pg_ctl status >/dev/null 2>&1; }
# pg_start CONF_CMD...: pg_ctl start, logging to $LOG. When another suite
# took port $P between free_port and the postmaster's bind ("could not
# bind"), $P becomes another free port, CONF_CMD... writes the
# configuration again, and the start is tried again (5 times at most);
# the failed start's log is kept beside $LOG.
pg_start() {
	local try
	for try in 1 2 3 4 5; do
		pg_ctl start -w -t 60 -l "$LOG" && return 0
		grep -q 'could not bind' "$LOG" 2>/dev/null || return 1
		mv "$LOG" "$LOG.port-taken-$try"
		P=$(free_port) || return 1
		"$@"
	done
	return 1
}
stopped() { ! running; }

# pg_cleanup: the EXIT trap: stop the cluster if it may run, remove $D, $T.
pg_cleanup() {
	if [ -f "$DATA/postmaster.pid" ]; then
		pg_ctl stop -m fast -w -t 60 >/dev/null 2>&1 ||
			pg_ctl stop -m immediate -w -t 60 >/dev/null 2>&1
	fi
	rm -rf "$D" "$T"
}

# Reloads: count the postmaster's SIGHUP lines in $LOG, then wait for one more.
sighups() { grep -c 'received SIGHUP' "$LOG"; }
more_sighups() { [ "$(sighups)" -gt "$1" ]; }
# since N REGEX: a line of $LOG after its first N lines matches REGEX.
since() { tail -n +"$(($1 + 1))" "$LOG" | grep -Eq -- "$2"; }
# clean_since N: no failure in $LOG after its first N lines.
clean_since() { ! since "$1" 'FATAL|failed|could not|not reloaded'; }
