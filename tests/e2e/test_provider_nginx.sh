#!/usr/bin/env bash
# test_provider_nginx.sh - a real nginx serving TLS with a key that stays in
# a kmc vault, as docs/integrations/nginx.md sets it up: `kmc ref server
# --out` writes a key-reference file, ssl_certificate_key names it, and the
# kmc provider (kmc.so) is loaded through OPENSSL_CONF in nginx's
# environment. The master process (root) reads the vault at start and at
# every reload; the workers run as nobody and never touch it.
#
# Checked: openssl s_client and curl verify the server against the CA and
# see the imported certificate (same SHA-256 fingerprint as server.crt), and
# an HTTP answer comes back. Controls: the same configuration without the
# provider does not start (nginx names the key file), and a reference to an
# item that is not in the vault does not start either, with the provider's
# message naming vault and item in nginx's error log. Then a rotation with
# `kmc import --replace` and `nginx -s reload` (which loads the keys itself
# to check the configuration, so it needs OPENSSL_CONF too), a reload while
# the vault cannot be opened (it fails, nginx keeps serving the key it
# has), and a passphrase vault opened through ssl_password_file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ ! -x "$NGINX" ]; then
	echo "skip: nginx not installed"
	done_testing
	exit
fi

V=$T/vault
PKI=$T/pki
N=$T/nginx	# nginx's prefix: configs, logs, pid files, temp dirs
PROV=$KMC_BUILD/provider/kmc.so
kmc() { "$KMC" --vault "$V" "$@"; }
mkdir -p "$N"
NOGROUP=$(id -gn nobody 2>/dev/null || echo nogroup)

# The OpenSSL configuration of docs/integrations/nginx.md: the default
# provider and kmc. The control loads the default provider alone, so no
# system-wide configuration can bring kmc in behind the test's back.
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROV"
NOPROV=$T/openssl-default.cnf
write_openssl_conf "$NOPROV"

# ---- servers in the background ------------------------------------------------------

trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# Temp paths inside the prefix, for every module this nginx has, so that
# nothing is created under /var/lib/nginx.
TEMPS=
for m in client_body proxy fastcgi uwsgi scgi; do
	case $m in
	client_body) ;;
	*) "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" && continue ;;
	esac
	TEMPS="$TEMPS	${m}_temp_path $N/tmp-$m;
"
done

# nginx_conf NAME KEYFILE [EXTRA]: $N/NAME.conf, serving TLS on $PORT with
# the imported certificate (the keys-folder copy) and KEYFILE as the key.
nginx_conf() {
	cat >"$N/$1.conf" <<CONF
user nobody $NOGROUP;
worker_processes 1;
pid $N/$1.pid;
error_log $N/$1.log notice;
events { worker_connections 64; }
http {
	access_log $N/$1.access.log;
$TEMPS
	server {
		listen 127.0.0.1:$PORT ssl;
		server_name localhost;
		ssl_certificate $V/keys/server/server.crt;
		ssl_certificate_key $2;
		${3:-}
		location / {
			default_type text/plain;
			return 200 "hello from nginx\n";
		}
	}
}
CONF
}

# run_nginx NAME OPENSSL_CONF ARGS...: nginx in the foreground with the
# environment a service has (OPENSSL_CONF set, no $KMC_HOST_KEY: the vault's
# recorded host key path is used); -e sends the messages nginx writes before
# its error_log is open to the same log.
run_nginx() {
	local name=$1 conf=$2
	shift 2
	env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$NGINX" -p "$N/" \
		-c "$N/$name.conf" -e "$N/$name.log" "$@"
}

# start_nginx NAME KEYFILE OPENSSL_CONF [EXTRA]: nginx on KEYFILE in the
# background (nginx_bg, servers.sh); sets SPID, PORT and SLOG.
start_nginx() { nginx_bg "$1" "$3" nginx_conf "$1" "$2" "${4:-}"; }

# fails_to_start NAME KEYFILE OPENSSL_CONF: nginx with that key does not
# start: it exits 1 by itself (bounded: 124 if it kept running).
fails_to_start() {
	local name=$1 key=$2 conf=$3
	SLOG=$N/$name.log
	PORT=$(free_port) || return 1
	nginx_conf "$name" "$key"
	: >"$SLOG"
	timeout 30 env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$NGINX" -p "$N/" \
		-c "$N/$name.conf" -e "$SLOG" -g 'daemon off;' </dev/null \
		>"$N/$name.out" 2>&1
}
# clean_log: nothing at emerg, alert or crit level.
clean_log() { ! grep -Eq '\[(emerg|alert|crit)\]' "$SLOG"; }

# ---- the vault, the bundle and the key references ---------------------------------

check "the provider is built ($PROV)" test -f "$PROV"
vault_with_server_and_gone

REF=$N/server.ref
GONE=$N/gone.ref
refs_server_and_gone "$REF" "$GONE"
check "the reference is mode 0644" test "$(stat -c %a "$REF")" = 644
check "it is a KMC KEY REFERENCE" grep -q -- '-----BEGIN KMC KEY REFERENCE-----' "$REF"
check "it holds no key" bash -c '! grep -q "PRIVATE KEY" "$1"' _ "$REF"
check "the keys folder has the certificate nginx serves" \
	test -f "$V/keys/server/server.crt"

# ---- control: without the provider nginx cannot use the reference ---------------------

t_rc 1 "without the provider, nginx does not start (exit 1)" \
	fails_to_start noprov "$REF" "$NOPROV"
check "... its error log names the key file it could not load" \
	logged "\[emerg\].*cannot load certificate key \"$(re "$REF")\""
check "... and OpenSSL's reason: no decoder for that PEM" \
	logged 'No supported data to decode'
check "... and no nginx is listening" bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1")' _ "$PORT"

# ---- nginx serving the vault key ----------------------------------------------------------

t "with OPENSSL_CONF loading kmc, nginx starts and listens" \
	start_nginx main "$REF" "$CONF"
MAIN=$SPID MAIN_PORT=$PORT
check "its master process runs" kill -0 "$MAIN"
check "its workers run as nobody, not as root" \
	children_run_as nobody "$MAIN"

t "openssl s_client completes the handshake, verifying chain and name" \
	handshake main
check "... with verify return code 0" verified main
t_out "nginx presented CN=localhost" "subject=CN=localhost" presented_subject main
check "the certificate presented is server.crt (SHA-256 fingerprint)" \
	served main "$PKI/server.crt"
t_out "curl https://localhost:PORT/ gets nginx's answer" "hello from nginx" https_get
t_out "... with HTTP status 200" "200" https_status
check "nginx's error log has no emerg, alert or crit line" clean_log
check "no key material reaches the log" \
	bash -c '! grep -Eq "PRIVATE KEY|server-key-password" "$1"' _ "$SLOG"

# ---- a reference to an item that is not in the vault ----------------------------------

t_rc 1 "a reference to the removed item gone: nginx does not start" \
	fails_to_start gone "$GONE" "$CONF"
check "... nginx names the reference file" \
	logged "cannot load certificate key \"$(re "$GONE")\""
check "... with the provider's message naming item and vault" \
	logged "reading the key gone in vault $(re "$V"): no item gone/key"

# ---- rotation: kmc import --replace, then a reload --------------------------------------

rotate_server_key
SLOG=$N/main.log PORT=$MAIN_PORT
# nginx -s reload parses the whole configuration, keys included, before it
# signals the master: without the provider it stops there.
t_rc 1 "nginx -s reload without OPENSSL_CONF fails: it loads the keys too" \
	run_nginx main "$NOPROV" -s reload
check "... naming the reference file" \
	logged "cannot load certificate key \"$(re "$REF")\""
t "... and the running nginx still serves the old certificate" handshake old
check "... which is server.crt" served old "$PKI/server.crt"
t "nginx -s reload with OPENSSL_CONF signals the master" \
	run_nginx main "$CONF" -s reload
await_new_key "$MAIN"
check "after the reload the new certificate is served, verified by the new CA" \
	new_key_served
t_out "... and HTTP still answers" "hello from nginx" https_get "$PKI2/ca.crt"
check "... by the same master process" kill -0 "$MAIN"
check "the master logged the reload" logged 'signal 1 \(SIGHUP\) received'
check "the reload logged no emerg, alert or crit line after the refused one" \
	bash -c '! sed "1,/cannot load certificate key/d" "$1" | grep -Eq "\[(emerg|alert|crit)\]"' _ "$SLOG"

# ---- a reload while the vault cannot be opened -----------------------------------------

# The host key moved away: the vault does not open, the keys-folder
# certificate is still there.
t "the host key is moved away" mv "$KMC_HOST_KEY" "$KMC_HOST_KEY.away"
failed_reloads() { grep -c 'opening the vault for server' "$SLOG"; }
t "SIGHUP to the master asks for a reload" kill -HUP "$MAIN"
for _ in $(seq 100); do
	[ "$(failed_reloads)" -gt 0 ] && break
	sleep 0.1
done
check "the reload fails with the provider's message naming item, vault and host key" \
	logged "\[emerg\].*opening the vault for server in vault $(re "$V"): .*host key $(re "$KMC_HOST_KEY") does not exist"
check "... nginx keeps running" kill -0 "$MAIN"
t "... and still serves the key it had (verified by the new CA)" \
	handshake outage "$PKI2/ca.crt"
check "... which belongs to the new certificate" served outage "$PKI2/server.crt"
t "the host key is put back" mv "$KMC_HOST_KEY.away" "$KMC_HOST_KEY"
t "SIGTERM stops nginx" stop_server "$MAIN"

# ---- a passphrase vault: ssl_password_file answers the provider ------------------------

PV=$T/pvault
secret_file "$T/vaultpw" 'vault pass phrase 1'
secret_file "$T/wrongpw" 'not the vault pass phrase'
t "init a passphrase vault (cheap Argon2id for the test)" \
	"$KMC" --vault "$PV" init --protector passphrase \
	--passphrase-file "$T/vaultpw" --argon2-ops 1 --argon2-mem 8
t "import the bundle into it" \
	"$KMC" --vault "$PV" import -c "$PKI/ca.crt" -s "$PKI/server.crt" \
	-k "$PKI/server.key" --password-file "$KEYPW" \
	--passphrase-file "$T/vaultpw"
t "kmc ref server --out for the passphrase vault" \
	"$KMC" --vault "$PV" ref server --out "$N/pserver.ref" \
	--passphrase-file "$T/vaultpw"
# The same configuration, with this vault's keys-folder certificate.
PORT=$(free_port)
nginx_conf pass "$N/pserver.ref" "ssl_password_file $T/vaultpw;"
sed -i "s#$V/keys/server/server.crt#$PV/keys/server/server.crt#" "$N/pass.conf"
SLOG=$N/pass.log
t "nginx -t accepts the reference, the vault passphrase from ssl_password_file" \
	run_nginx pass "$CONF" -t
nginx_conf passbad "$N/pserver.ref" "ssl_password_file $T/wrongpw;"
sed -i "s#$V/keys/server/server.crt#$PV/keys/server/server.crt#" "$N/passbad.conf"
SLOG=$N/passbad.log
t_rc 1 "with a wrong passphrase in ssl_password_file nginx -t fails" \
	run_nginx passbad "$CONF" -t
check "... with the provider's message naming item and vault" \
	logged "opening the vault for server in vault $(re "$PV"): .*wrong passphrase"

# ---- a variable in ssl_certificate_key: the worker loads it, and cannot ----------------

# docs/integrations/nginx.md: with a variable nginx loads the key in a
# worker (nobody here, www-data there) at each handshake; the vault is
# root's, so the handshake fails, and the log says which folder and whose.
# The certificate and the reference are where the worker may read them,
# so that what stops it is the vault.
chmod 711 "$T"
cp "$V/keys/server/server.crt" "$N/localhost.crt" && chmod 644 "$N/localhost.crt"
cp "$REF" "$N/localhost.ref"
# var_conf NAME KEYFILE: nginx_conf, the certificate named by the variable too.
var_conf() {
	nginx_conf "$@"
	sed -i "s#ssl_certificate $(re "$V")/keys/server/server.crt;#ssl_certificate $N/\$ssl_server_name.crt;#" "$N/$1.conf"
}
t "nginx with ssl_certificate(_key) naming \$ssl_server_name starts (nothing loaded yet)" \
	nginx_bg var "$CONF" var_conf var "$N/\$ssl_server_name.ref"
check "... its workers run as nobody" children_run_as nobody "$SPID"
check "a handshake fails: the worker (nobody) cannot open root's vault" \
	bash -c '! timeout 20 openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null >/dev/null 2>&1' _ "$PORT"
for _ in $(seq 100); do logged 'does not let uid' && break; sleep 0.1; done
check "... and nginx's log names the vault's folder, its owner and whom to run as" \
	logged "cannot load certificate key .*$(re "$N/localhost.ref").*$(re "$V"): Permission denied: directory $(re "$V") belongs to uid 0 \(root\), mode 0700, and does not let uid $(id -u nobody) in"
t "SIGTERM stops it" stop_server "$SPID"

done_testing
