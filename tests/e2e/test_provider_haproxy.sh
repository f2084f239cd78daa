#!/usr/bin/env bash
# test_provider_haproxy.sh - a real HAProxy 2.6 terminating TLS with a key
# that stays in a kmc vault, as docs/integrations/haproxy.md sets it up.
# HAProxy 2.6 takes no key URIs (it has no OSSL_STORE support), but it
# reads keys with PEM_read_bio_PrivateKey, so a key-reference file works:
#   bind ... ssl crt DIR/site.crt     site.crt: the certificate only
#                                      (a link to the keys-folder copy)
#                                      site.crt.key: `kmc ref server --out`
# with the provider loaded by HAProxy itself (global: ssl-provider-path,
# ssl-provider kmc, ssl-provider default). Also checked: the provider
# loaded through OPENSSL_CONF instead, and one PEM file holding the
# certificate and the reference. The master (root) reads the vault at start
# and at every reload; the worker runs as nobody in a chroot.
#
# Checked: openssl s_client and curl verify the server against the CA and
# see the imported certificate (same SHA-256 fingerprint as server.crt), and
# an HTTP answer comes back. Controls: the same configuration without the
# provider does not start (HAProxy names the key file), and a reference to
# an item that is not in the vault does not start either. HAProxy 2.6
# prints no OpenSSL error queue, so the provider's message is not in its
# output; `openssl pkey` with the same OPENSSL_CONF shows it (the
# diagnostic the doc gives). Then a rotation with `kmc import --replace`
# and a master-worker reload (SIGUSR2), and a reload while the vault cannot
# be opened: it fails, and the running worker keeps serving.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
if [ ! -x "$HAPROXY" ]; then
	echo "skip: haproxy not installed"
	done_testing
	exit
fi

V=$T/vault
PKI=$T/pki
H=$T/haproxy	# configs, certificates and references, logs
PROVDIR=$KMC_BUILD/provider
kmc() { "$KMC" --vault "$V" "$@"; }
mkdir -p "$H/chroot"	# the workers' chroot, as Debian's haproxy.cfg has one
NOGROUP=$(id -gn nobody 2>/dev/null || echo nogroup)

# The OpenSSL configuration for the OPENSSL_CONF variant: the default
# provider and kmc. The other runs point OPENSSL_CONF at one that loads the
# default provider alone, so no system-wide configuration can bring kmc in
# behind the test's back.
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROVDIR/kmc.so"
NOPROV=$T/openssl-default.cnf
write_openssl_conf "$NOPROV"

# ---- servers in the background ------------------------------------------------------

# stop_server PID: SIGTERM to the master (hard stop), bounded; workers that
# outlive it are killed too. Returns 0 when the master ended in time (its
# exit status after a SIGTERM is not 0).
stop_server() { stop_tree "$1"; [ $? != 124 ]; }
trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# haproxy_cfg NAME CRT [provider|noprovider]: $H/NAME.cfg, terminating TLS
# on $PORT with `crt CRT` and answering every request itself. With
# provider (the default), the global section loads kmc and default.
haproxy_cfg() {
	local prov=
	if [ "${3:-provider}" = provider ]; then
		prov="	ssl-provider-path $PROVDIR
	ssl-provider kmc
	ssl-provider default"
	fi
	cat >"$H/$1.cfg" <<CFG
global
$prov
	chroot $H/chroot
	user nobody
	group $NOGROUP
	log stderr format raw local0 notice

defaults
	mode http
	log global
	timeout connect 5s
	timeout client 10s
	timeout server 10s

frontend fe
	bind 127.0.0.1:$PORT ssl crt $2
	http-request return status 200 content-type text/plain string "hello from haproxy"
CFG
}

# run_haproxy OPENSSL_CONF ARGS...: HAProxy with the environment a service
# has (no $KMC_HOST_KEY: the vault's recorded host key path is used).
run_haproxy() {
	local conf=$1
	shift
	env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$HAPROXY" "$@"
}

# start_haproxy NAME CRT OPENSSL_CONF [provider|noprovider]: HAProxy in
# master-worker mode (-W, as the systemd unit's -Ws) in the foreground of a
# background job (-db) on a free port; set SPID (the master), PORT and SLOG
# (its stderr). Succeeds once the port accepts connections; fails if HAProxy
# exits first (another free port is tried if it lost the port to someone
# else) or does not listen in 20 s.
start_haproxy() {
	local name=$1 crt=$2 conf=$3 mode=${4:-provider} _
	SLOG=$H/$name.log
	for _ in 1 2 3; do
		PORT=$(free_port) || return 1
		haproxy_cfg "$name" "$crt" "$mode"
		env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$HAPROXY" -W -db \
			-f "$H/$name.cfg" </dev/null >"$SLOG" 2>&1 &
		SPID=$!
		SPIDS+=("$SPID")
		wait_listening
		case $? in 0) return 0 ;; 2) return 1 ;; esac
		grep -q 'cannot bind socket' "$SLOG" || return 1
	done
	return 1
}

# fails_to_start NAME CRT OPENSSL_CONF [provider|noprovider]: HAProxy does
# not start: it exits 1 by itself (bounded: 124 if it kept running).
fails_to_start() {
	local name=$1 crt=$2 conf=$3 mode=${4:-provider}
	SLOG=$H/$name.log
	PORT=$(free_port) || return 1
	haproxy_cfg "$name" "$crt" "$mode"
	timeout 30 env -u KMC_HOST_KEY OPENSSL_CONF="$conf" "$HAPROXY" -W -db \
		-f "$H/$name.cfg" </dev/null >"$SLOG" 2>&1
}
clean_log() { ! grep -Eq '\[ALERT\]' "$SLOG"; }

# ---- the vault, the bundle and the key references ---------------------------------

check "the provider is built ($PROVDIR/kmc.so)" test -f "$PROVDIR/kmc.so"
vault_with_server_and_gone

# The pair HAProxy loads: CRT holds the certificate only, so HAProxy reads
# the key from CRT.key. CRT is a link to the keys-folder copy, which
# `kmc import --replace` rewrites.
CRT=$H/site.crt
ln -s "$V/keys/server/server.crt" "$CRT"
t "kmc ref server --out writes the reference as site.crt.key" \
	kmc ref server --out "$CRT.key"
check "the reference is mode 0644 and holds no key" \
	bash -c '[ "$(stat -c %a "$1")" = 644 ] && ! grep -q "PRIVATE KEY" "$1"' _ "$CRT.key"
GONE=$H/gone.crt
ln -s "$V/keys/server/server.crt" "$GONE"
t "kmc ref gone --out writes one for gone as gone.crt.key" \
	kmc ref gone --out "$GONE.key"
t "kmc rm gone removes that bundle: its reference now names no item" kmc rm gone

# ---- control: without the provider HAProxy cannot use the reference -------------------

t_rc 1 "without the provider, HAProxy does not start (exit 1)" \
	fails_to_start noprov "$CRT" "$NOPROV" noprovider
check "... its alert names the key file it could not load" \
	logged "unable to load private key from file '$(re "$CRT.key")'"
check "... and nothing listens on its port" \
	bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1")' _ "$PORT"

# ---- HAProxy serving the vault key, the provider loaded by ssl-provider --------------

t "with ssl-provider kmc in global, HAProxy starts and listens" \
	start_haproxy main "$CRT" "$NOPROV"
MAIN=$SPID MAIN_PORT=$PORT
check "its master process runs as root" test "$(ps -o user= -p "$MAIN")" = root
check "its worker runs as nobody" \
	children_run_as nobody "$MAIN"

t "openssl s_client completes the handshake, verifying chain and name" \
	handshake main
check "... with verify return code 0" verified main
t_out "HAProxy presented CN=localhost" "subject=CN=localhost" presented_subject main
check "the certificate presented is server.crt (SHA-256 fingerprint)" \
	served main "$PKI/server.crt"
t_out "curl https://localhost:PORT/ gets HAProxy's answer" "hello from haproxy" https_get
t_out "... with HTTP status 200" "200" https_status
check "HAProxy's output has no ALERT" clean_log
check "no key material reaches its output" \
	bash -c '! grep -Eq "PRIVATE KEY|server-key-password" "$1"' _ "$SLOG"

# ---- the same through OPENSSL_CONF, without the ssl-provider lines --------------------

t "with OPENSSL_CONF loading kmc instead, HAProxy starts and listens" \
	start_haproxy envconf "$CRT" "$CONF" noprovider
t "... s_client completes the handshake" handshake envconf
check "... and sees server.crt" served envconf "$PKI/server.crt"
t_out "... curl gets HAProxy's answer" "hello from haproxy" https_get
t "... SIGTERM stops it" stop_server "$SPID"

# ---- one PEM file: the certificate, then the reference ----------------------------------

cat "$PKI/server.crt" "$CRT.key" >"$H/bundle.pem"
t "with crt naming one file of certificate and reference, HAProxy starts" \
	start_haproxy bundle "$H/bundle.pem" "$NOPROV"
t "... s_client completes the handshake" handshake bundle
check "... and sees server.crt" served bundle "$PKI/server.crt"
t_out "... curl gets HAProxy's answer" "hello from haproxy" https_get
t "... SIGTERM stops it" stop_server "$SPID"

# ---- a reference to an item that is not in the vault ----------------------------------

t_rc 1 "a reference to the removed item gone: HAProxy does not start" \
	fails_to_start gone "$GONE" "$NOPROV"
check "... its alert names the reference file" \
	logged "unable to load private key from file '$(re "$GONE.key")'"
if logged 'kmc: '; then
	echo "# note: this HAProxy prints the provider's message too"
fi
# diagnose REF: what docs/integrations/haproxy.md gives for finding out why:
# the reference read by openssl pkey through the provider.
diagnose() {
	timeout 20 env -u KMC_HOST_KEY OPENSSL_CONF="$CONF" openssl pkey \
		-in "$1" -noout
}
t_err 1 "... openssl pkey through the provider tells why, naming item and vault" \
	"reading the key gone in vault $(re "$V"): no item gone/key" \
	diagnose "$GONE.key"
t "... and reads the good reference" diagnose "$CRT.key"
# The same without a configuration file: the provider named on the command
# line, as the ssl-provider lines name it to HAProxy.
diagnose_flags() {
	timeout 20 env -u KMC_HOST_KEY OPENSSL_CONF="$NOPROV" openssl pkey \
		-provider-path "$PROVDIR" -provider kmc -provider default \
		-in "$1" -noout
}
t_err 1 "openssl pkey -provider kmc -provider default tells the same" \
	"reading the key gone in vault $(re "$V"): no item gone/key" \
	diagnose_flags "$GONE.key"
t "... and reads the good reference" diagnose_flags "$CRT.key"

# ---- haproxy -c loads the key too ------------------------------------------------------

t "haproxy -c on the main configuration succeeds (the key loads)" \
	run_haproxy "$NOPROV" -c -f "$H/main.cfg"
t_rc 1 "haproxy -c on the configuration without the provider fails" \
	run_haproxy "$NOPROV" -c -f "$H/noprov.cfg"

# ---- rotation: kmc import --replace, then a master-worker reload -----------------------

rotate_server_key
SLOG=$H/main.log PORT=$MAIN_PORT
t "SIGUSR2 to the master: HAProxy reloads" kill -USR2 "$MAIN"
await_new_key "$MAIN"
check "after the reload the new certificate is served, verified by the new CA" \
	new_key_served
t_out "... and HTTP still answers" "hello from haproxy" https_get "$PKI2/ca.crt"
check "... by the same master process" kill -0 "$MAIN"
check "the reload logged no ALERT" clean_log

# ---- a reload while the vault cannot be opened -----------------------------------------

# The host key moved away: the vault does not open, the certificate is
# still there. The master keeps the running worker.
t "the host key is moved away" mv "$KMC_HOST_KEY" "$KMC_HOST_KEY.away"
t "SIGUSR2 to the master asks for a reload" kill -USR2 "$MAIN"
for _ in $(seq 100); do
	logged 'Loading failure' && break
	sleep 0.1
done
check "the reload fails: HAProxy names the key file" \
	logged "unable to load private key from file '$(re "$CRT.key")'"
check "... and logs \"Loading failure!\"" logged 'Loading failure!'
check "... the master keeps running" kill -0 "$MAIN"
t "... and its worker still serves the key it had (verified by the new CA)" \
	handshake outage "$PKI2/ca.crt"
check "... which belongs to the new certificate" served outage "$PKI2/server.crt"
t "the host key is put back" mv "$KMC_HOST_KEY.away" "$KMC_HOST_KEY"
t "SIGTERM stops HAProxy" stop_server "$MAIN"

done_testing
