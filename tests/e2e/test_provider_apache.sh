#!/usr/bin/env bash
# test_provider_apache.sh - a real Apache httpd 2.4 (mod_ssl) serving TLS
# with a key that stays in a kmc vault, as docs/integrations/apache.md sets
# it up: `kmc ref server --out` writes a key-reference file,
# SSLCertificateKeyFile names it, and the kmc provider (kmc.so) is loaded
# through OPENSSL_CONF in Apache's environment. The parent process (root)
# reads the vault at start and at every restart; the children run as
# nobody and never touch it.
#
# Checked: openssl s_client and curl verify the server against the CA and
# see the imported certificate (same SHA-256 fingerprint as server.crt), and
# an HTTP answer comes back. Controls: the same configuration without the
# provider does not start (mod_ssl names the key file), and a reference to
# an item that is not in the vault does not start either, with the
# provider's message naming vault and item in the error log. Then a
# rotation with `kmc import --replace` and a graceful restart (SIGUSR1),
# and a graceful restart while the vault cannot be opened: Apache exits.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

HTTPD=${APACHE2:-$(command -v apache2 || echo /usr/sbin/apache2)}
if [ ! -x "$HTTPD" ]; then
	echo "skip: apache2 not installed"
	done_testing
	exit
fi

V=$T/vault
PKI=$T/pki
A=$T/apache	# ServerRoot: configs, logs, pid files, runtime dir
PROV=$KMC_BUILD/provider/kmc.so
MODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
kmc() { "$KMC" --vault "$V" "$@"; }
mkdir -p "$A/run"
NOGROUP=$(id -gn nobody 2>/dev/null || echo nogroup)
# The document root must be readable by the children (nobody), which
# cannot enter $T (0700): a directory of its own, removed at the end.
PUB=$(mktemp -d "${TMPDIR:-/tmp}/kmc-e2e-www.XXXXXX")
chmod 755 "$PUB"
echo "hello from apache" >"$PUB/hello.txt"
chmod 644 "$PUB/hello.txt"
URL_PATH=/hello.txt	# what https_get and https_status fetch

# The OpenSSL configuration of docs/integrations/apache.md: the default
# provider and kmc. The control loads the default provider alone, so no
# system-wide configuration can bring kmc in behind the test's back.
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROV"
NOPROV=$T/openssl-default.cnf
write_openssl_conf "$NOPROV"

# ---- servers in the background ------------------------------------------------------

trap 'stop_all; rm -rf "$T" "$PUB"' EXIT
trap 'exit 1' INT TERM HUP

# mod_unixd (User, Group) is built in on Debian; load it where it is not.
UNIXD=
"$HTTPD" -l 2>/dev/null | grep -q 'mod_unixd\.c' ||
	UNIXD="LoadModule unixd_module $MODS/mod_unixd.so"

# httpd_conf NAME KEYFILE: $A/NAME.conf, serving TLS on $PORT with the
# imported certificate (the keys-folder copy) and KEYFILE as the key; only
# the modules it needs: prefork, authz_core, ssl (and unixd).
httpd_conf() {
	cat >"$A/$1.conf" <<CONF
ServerRoot $A
DefaultRuntimeDir $A/run
PidFile $A/$1.pid
ErrorLog $A/$1.log
LogLevel notice ssl:info
LoadModule mpm_prefork_module $MODS/mod_mpm_prefork.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule ssl_module $MODS/mod_ssl.so
$UNIXD
User nobody
Group $NOGROUP
ServerName localhost
Listen 127.0.0.1:$PORT https
StartServers 1
MinSpareServers 1
MaxSpareServers 2
DocumentRoot $PUB
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $PUB>
	Require all granted
</Directory>
SSLEngine on
SSLCertificateFile $V/keys/server/server.crt
SSLCertificateKeyFile $2
CONF
}

# The environment a service has: OPENSSL_CONF set, no $KMC_HOST_KEY (the
# vault's recorded host key path is used).

# start_httpd NAME KEYFILE OPENSSL_CONF: Apache in the foreground of a
# background job (-D FOREGROUND: the parent stays ours) on a free port; set
# SPID, PORT and SLOG. Succeeds once the port accepts connections; fails if
# Apache exits first (another free port is tried if it lost the port to
# someone else) or does not listen in 20 s.
start_httpd() {
	local name=$1 key=$2 conf=$3 _
	SLOG=$A/$name.log
	for _ in 1 2 3; do
		PORT=$(free_port) || return 1
		httpd_conf "$name" "$key"
		: >"$SLOG"
		# setsid: Apache signals its whole process group when it
		# stops (prefork's killpg), which must not be this script's.
		# It does not fork (the job is no group leader): SPID is
		# Apache's parent.
		setsid env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$HTTPD" \
			-f "$A/$name.conf" -D FOREGROUND </dev/null >"$A/$name.out" 2>&1 &
		SPID=$!
		SPIDS+=("$SPID")
		wait_listening
		case $? in 0) return 0 ;; 2) return 1 ;; esac
		grep -q 'Address already in use' "$SLOG" "$A/$name.out" || return 1
	done
	return 1
}

# fails_to_start NAME KEYFILE OPENSSL_CONF: Apache with that key does not
# start: it exits 1 by itself (bounded: 124 if it kept running).
# Apache opens its port before mod_ssl loads the key: a port another
# suite took in the meantime is tried again on another, as start_httpd
# does, and the log is shown when the exit is not the key's.
fails_to_start() {
	local name=$1 key=$2 conf=$3 rc _
	SLOG=$A/$name.log
	for _ in 1 2 3; do
		PORT=$(free_port) || return 1
		httpd_conf "$name" "$key"
		: >"$SLOG"
		timeout 30 setsid env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$HTTPD" \
			-f "$A/$name.conf" -D FOREGROUND </dev/null >"$A/$name.out" 2>&1
		rc=$?
		grep -q 'Address already in use' "$SLOG" "$A/$name.out" || break
	done
	grep -q 'AH02564' "$SLOG" || sed 's/^/# /' "$SLOG" "$A/$name.out" >&2
	return "$rc"
}
# clean_log: nothing at error level or above.
clean_log() { ! grep -Eq '\[[a-z_]+:(error|crit|alert|emerg)\]' "$SLOG"; }

# ---- the vault, the bundle and the key references ---------------------------------

check "the provider is built ($PROV)" test -f "$PROV"
check "mod_ssl and mod_mpm_prefork are installed in $MODS" \
	test -f "$MODS/mod_ssl.so" -a -f "$MODS/mod_mpm_prefork.so"
vault_with_server_and_gone

REF=$A/server.ref
GONE=$A/gone.ref
refs_server_and_gone "$REF" "$GONE"
check "the reference is mode 0644 and holds no key" \
	bash -c '[ "$(stat -c %a "$1")" = 644 ] && ! grep -q "PRIVATE KEY" "$1"' _ "$REF"

# ---- control: without the provider Apache cannot use the reference --------------------

t_rc 1 "without the provider, Apache does not start (exit 1)" \
	fails_to_start noprov "$REF" "$NOPROV"
check "... mod_ssl's error names the key file it could not load" \
	logged "AH02564: Failed to configure .*private key .*check $(re "$REF")"
check "... after OpenSSL's reason: no decoder for that PEM" \
	logged 'No supported data to decode'
check "... and nothing listens on its port" \
	bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1")' _ "$PORT"

# ---- Apache serving the vault key ---------------------------------------------------------

t "with OPENSSL_CONF loading kmc, Apache starts and listens" \
	start_httpd main "$REF" "$CONF"
MAIN=$SPID MAIN_PORT=$PORT
check "its parent process (our job, in a session of its own) runs as root" \
	test "$(ps -o user=,sid= -p "$MAIN" | tr -s ' ')" = "root $MAIN"
check "its children run as nobody" \
	children_run_as nobody "$MAIN"
check "mod_ssl logged the key as configured from the reference file" \
	logged "AH02568: Certificate and private key .* configured from .*server\.crt and $(re "$REF")"

t "openssl s_client completes the handshake, verifying chain and name" \
	handshake main
check "... with verify return code 0" verified main
t_out "Apache presented CN=localhost" "subject=CN=localhost" presented_subject main
check "the certificate presented is server.crt (SHA-256 fingerprint)" \
	served main "$PKI/server.crt"
t_out "curl https://localhost:PORT/hello.txt gets the file" "hello from apache" https_get
t_out "... with HTTP status 200" "200" https_status
check "the error log has no error, crit, alert or emerg line" clean_log
check "no key material reaches the log" \
	bash -c '! grep -Eq "PRIVATE KEY|server-key-password" "$1"' _ "$SLOG"

# ---- a reference to an item that is not in the vault ----------------------------------

t_rc 1 "a reference to the removed item gone: Apache does not start" \
	fails_to_start gone "$GONE" "$CONF"
check "... mod_ssl names the reference file" \
	logged "AH02564: .*check $(re "$GONE")"
check "... with the provider's message naming item and vault" \
	logged "reading the key gone in vault $(re "$V"): no item gone/key"

# ---- rotation: kmc import --replace, then a graceful restart --------------------------

rotate_server_key
SLOG=$A/main.log PORT=$MAIN_PORT
t "SIGUSR1: Apache restarts gracefully" kill -USR1 "$MAIN"
await_new_key "$MAIN"
check "after the restart the new certificate is served, verified by the new CA" \
	new_key_served
t_out "... and HTTP still answers" "hello from apache" https_get "$PKI2/ca.crt"
check "... by the same parent process" kill -0 "$MAIN"
check "the restart logged no error, crit, alert or emerg line" clean_log

# ---- a restart while the vault cannot be opened -----------------------------------------

# The host key moved away: the vault does not open, the keys-folder
# certificate is still there. Apache does not keep its old key through a
# restart whose key fails: it exits.
t "the host key is moved away" mv "$KMC_HOST_KEY" "$KMC_HOST_KEY.away"
t "SIGUSR1 asks Apache for a graceful restart" kill -USR1 "$MAIN"
ended() { wait_exit "$MAIN"; [ $? != 124 ]; }
check "Apache exits (bounded wait)" ended
check "its log has the provider's message naming item, vault and host key" \
	logged "opening the vault for server in vault $(re "$V"): .*host key $(re "$KMC_HOST_KEY") does not exist"
check "... and mod_ssl's fatal error" logged "AH02312: Fatal error initialising mod_ssl"
check "nothing listens on its port any more" \
	bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1")' _ "$PORT"
t "the host key is put back" mv "$KMC_HOST_KEY.away" "$KMC_HOST_KEY"

done_testing
