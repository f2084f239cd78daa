#!/usr/bin/env bash
# test_provider_mosquitto.sh - a Mosquitto broker whose TLS key stays in a
# kmc vault, as docs/integrations/mosquitto.md sets it up: `keyfile` is a
# key-reference file (kmc ref server --out), OPENSSL_CONF in the broker's
# environment loads the kmc provider, and the listener requires client
# certificates of the CA. mosquitto_pub and mosquitto_sub talk MQTT over
# TLS to it; a client without a certificate is refused. Then the client
# side: mosquitto_sub whose own --key is a reference file into the vault.
#
# Started as root, mosquitto drops to its `mosquitto` user before it loads
# the listener's key, as Debian's service does; the provider then opens the
# vault as that user, and kmc wants the vault and the host key to belong to
# whoever opens them. So the vault, the host key and every file the broker
# reads live in a temp dir of the mosquitto user, and each kmc command that
# touches the vault runs as mosquitto too.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

for prog in mosquitto mosquitto_pub mosquitto_sub; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "skip: $prog not installed"
		done_testing
		exit
	fi
done
require_root_and_user \
	"the test runs as root with a mosquitto system user (the package makes it)" mosquitto

# ---- a private place the mosquitto user owns -------------------------------------

D=$(user_tmpdir mosquitto /tmp/kmc-mq.XXXXXX)
V=$D/vault
PKI=$D/pki
K=$D/kmc	# copies: the build dir may not be open to mosquitto
PROV=$D/provider/kmc.so	# with its vault code in provider/kmc/vault.so
install -m 755 "$KMC" "$K"
install -d -m 755 "$D/provider" "$D/provider/kmc"
install -m 755 "$KMC_BUILD/provider/kmc.so" "$PROV"
install -m 755 "$KMC_BUILD/provider/kmc/vault.so" "$D/provider/kmc/vault.so"
export KMC_HOST_KEY=$D/host.key

as_mq() { (cd "$D" && runuser -u mosquitto -- "$@"); }
kmc_mq() { as_mq "$K" --vault "$V" "$@"; }

CONF=$D/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROV"
chmod 644 "$CONF"

# ---- the broker in the background ----------------------------------------------------

BPIDS=()
BPID=
PORT=
BLOG=

cleanup() {
	local pid
	for pid in "${BPIDS[@]}"; do stop_server "$pid"; done
	rm -rf "$D" "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# write_conf NAME KEYFILE: a broker config with one TLS listener on $PORT.
write_conf() {
	cat >"$D/$1.conf" <<CONF
per_listener_settings false
listener $PORT 127.0.0.1
cafile $V/keys/server/ca.crt
certfile $V/keys/server/server.crt
keyfile $2
require_certificate true
use_identity_as_username true
allow_anonymous false
user mosquitto
persistence false
log_dest stderr
log_type all
CONF
}

# start_broker NAME KEYFILE [ENV...]: mosquitto -c $D/NAME.conf with ENV,
# log in $D/NAME.log; waits (bounded) until it says it is running. A port
# taken meanwhile is retried on another one. Fails if the broker exits.
start_broker() {
	local name=$1 key=$2 try i
	shift 2
	BLOG=$D/$name.log
	for try in 1 2 3 4 5; do
		PORT=$(free_port) || return 1
		write_conf "$name" "$key"
		env "$@" timeout 300 mosquitto -c "$D/$name.conf" >"$BLOG" 2>&1 </dev/null &
		BPID=$!
		BPIDS+=("$BPID")
		for i in $(seq 200); do
			grep -q 'mosquitto version .* running' "$BLOG" && return 0
			kill -0 "$BPID" 2>/dev/null || break
			sleep 0.1
		done
		stop_server "$BPID"
		grep -q 'Address already in use' "$BLOG" || return 1
	done
	return 1
}

# broker_fails NAME KEYFILE [ENV...]: the broker exits non-zero by itself.
# Mosquitto binds its port before it loads the key, so a port another
# suite took meanwhile ends it before the key is tried: such a run is
# retried on another port, as start_broker does.
broker_fails() {
	local name=$1 key=$2 pid i try
	shift 2
	BLOG=$D/$name.log
	for try in 1 2 3 4 5; do
		PORT=$(free_port) || return 1
		write_conf "$name" "$key"
		env "$@" timeout 60 mosquitto -c "$D/$name.conf" >"$BLOG" 2>&1 </dev/null &
		pid=$!
		BPIDS+=("$pid")
		for i in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			stop_server "$pid"
			return 1
		fi
		wait "$pid" && return 1
		grep -q 'Address already in use' "$BLOG" || return 0
	done
	return 1
}

logged() { grep -Eq -- "$1" "$BLOG"; }
# since N REGEX: a line of the broker log after its first N matches REGEX.
since() { tail -n +"$(($1 + 1))" "$BLOG" | grep -Eq -- "$2"; }
count() { grep -c -- "$1" "$BLOG"; }
# wait_log REGEX: until a line of the broker log matches (bounded).
wait_log() {
	local i
	for i in $(seq 200); do
		logged "$1" && return 0
		sleep 0.1
	done
	return 1
}
# wait_more PATTERN N: until the broker log has more than N such lines.
wait_more() {
	local i
	for i in $(seq 200); do
		[ "$(count "$1")" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- clients ---------------------------------------------------------------------------

TLS=(--cafile "$PKI/ca.crt" -h localhost)
WITH_CERT=(--cert "$PKI/client.crt" --key "$PKI/client.key")
pub() { timeout 30 mosquitto_pub "${TLS[@]}" -p "$PORT" "$@"; }

# sub_bg NAME [RUNNER...] :: ARGS...: mosquitto_sub in the background for
# one message (-C 1, at most 20 s), output in $D/NAME.msg; SUBPID is the
# runner's PID. Waits (bounded) until the broker has the subscription.
SUBPID=
sub_bg() {
	local name=$1 runner=() n
	shift
	while [ "$1" != :: ]; do runner+=("$1"); shift; done
	shift
	n=$(count 'Received SUBSCRIBE')
	"${runner[@]}" timeout 30 mosquitto_sub "${TLS[@]}" -p "$PORT" -C 1 -W 20 "$@" \
		>"$D/$name.msg" 2>"$D/$name.err" </dev/null &
	SUBPID=$!
	wait_more 'Received SUBSCRIBE' "$n"
}
# sub_got NAME MESSAGE: the background subscriber printed MESSAGE and ended.
sub_got() {
	local i
	for i in $(seq 250); do
		kill -0 "$SUBPID" 2>/dev/null || break
		sleep 0.1
	done
	stop_server "$SUBPID"
	[ "$(cat "$D/$1.msg")" = "$2" ]
}

# ---- the PKI, the vault and the reference files -------------------------------------

t "tools/mkpki.sh makes a CA, an encrypted server key and a client certificate" \
	bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
chown -R mosquitto:mosquitto "$PKI"
secret_file "$D/keypw" 'server-key-password'
chown mosquitto:mosquitto "$D/keypw"

t_err 0 "kmc init as mosquitto makes a vault with the host protector" \
	"created vault $V" kmc_mq init
check "the host key is mosquitto's and 0400" \
	test "$(stat -c '%U %a' "$KMC_HOST_KEY")" = "mosquitto 400"
t_err 0 "kmc import stores the server bundle (encrypted key)" "imported server into $V" \
	kmc_mq import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
	--password-file "$D/keypw"
REF=$D/server.ref.pem
t "kmc ref server --out writes the broker's key-reference file" kmc_mq ref server --out "$REF"

# ---- the broker ----------------------------------------------------------------------------

t "without OPENSSL_CONF, mosquitto with keyfile = the reference file does not start" \
	broker_fails noconf "$REF" -u OPENSSL_CONF -u KMC_HOST_KEY
check "... its log says it cannot load the key" logged 'Unable to load server key file'

# A reference to an item the vault does not hold (kmc ref checks the item,
# so this one is written by hand, as a stale file would be).
printf -- '-----BEGIN KMC KEY REFERENCE-----\n%s\n-----END KMC KEY REFERENCE-----\n' \
	"$(printf %s "kmc://$V?item=nosuch" | base64 -w0)" >"$D/nosuch.ref.pem"
t "with a reference to an item the vault lacks, mosquitto does not start" \
	broker_fails nosuch "$D/nosuch.ref.pem" -u KMC_HOST_KEY OPENSSL_CONF="$CONF"
check "... its log says it cannot load the key" logged 'Unable to load server key file'
# Mosquitto logs ERR_error_string() of each queued error: the reason
# string, not the error's data, where the provider puts its explanation.
# Today every vault failure reads "STORE routines::operation fail".
check "... and gives kmc's reason (a missing item), not just \"operation fail\"" \
	logged 'OpenSSL Error.*kmc.*(item|not found|no such)'

# The mistake docs/integrations/mosquitto.md warns of: the vault made as
# root (here in root's 0700 temp dir), which the broker, by then the
# mosquitto user, cannot enter. Its log shows only the reason: that must
# say owner or mode, not just that the vault does not open.
RV=$T/rootvault
t "kmc init as root makes a vault mosquitto cannot enter" \
	"$KMC" --vault "$RV" init --host-key "$T/root.key"
printf -- '-----BEGIN KMC KEY REFERENCE-----\n%s\n-----END KMC KEY REFERENCE-----\n' \
	"$(printf %s "kmc://$RV?item=server" | base64 -w0)" >"$D/rootvault.ref.pem"
chmod 644 "$D/rootvault.ref.pem"
t "with a reference to root's vault, mosquitto does not start" \
	broker_fails rootvault "$D/rootvault.ref.pem" -u KMC_HOST_KEY OPENSSL_CONF="$CONF"
check "... its log gives the reason: the vault's owner or mode refuses the broker's user" \
	logged "OpenSSL Error.*kmc: the vault's owner or mode refuses this user"

# The broker gets no $KMC_HOST_KEY: the vault recorded the host key path.
t "with OPENSSL_CONF in its environment, mosquitto starts on a free port" \
	start_broker main "$REF" -u KMC_HOST_KEY OPENSSL_CONF="$CONF"
check "... and its log shows no error" bash -c '! grep -Ei "error|unable" "$1"' _ "$BLOG"
check "... it runs as the mosquitto user" \
	test "$(ps -o uid= -p "$(pgrep -P "$BPID" -x mosquitto)" | tr -d ' ')" = "$(id -u mosquitto)"

t "openssl s_client -verify_return_error -CAfile ca.crt completes a handshake with it" \
	bash -c 'timeout 20 openssl s_client -connect "127.0.0.1:$1" -servername localhost \
		-verify_hostname localhost -CAfile "$2" -verify_return_error \
		-cert "$3" -key "$4" </dev/null >"$5" 2>&1' \
	_ "$PORT" "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$D/s_client.out"
t_out "... and the broker presented the imported certificate (SHA-256 fingerprint)" \
	"$(openssl x509 -in "$PKI/server.crt" -noout -fingerprint -sha256)" \
	openssl x509 -in "$D/s_client.out" -noout -fingerprint -sha256

t "mosquitto_sub with the client certificate subscribes" \
	sub_bg plain :: "${WITH_CERT[@]}" -t kmc/test
MSG="hello over MQTTS from the vault's key $$"
t "mosquitto_pub with the client certificate publishes" \
	pub "${WITH_CERT[@]}" -t kmc/test -m "$MSG"
check "... and the subscriber receives the message" sub_got plain "$MSG"
check "the broker knew the clients by their certificate's CN" \
	logged 'New client connected from 127\.0\.0\.1:[0-9]+ as .* u'"'"'kmc test client'"'"
n=$(count 'Received PUBLISH')
# TLS 1.3: the client's handshake may end before the broker has checked
# its (empty) certificate, so by timing the refusal shows as a lost
# connection (exit 7), a protocol error (exit 1) or a TLS error: any
# error, but not the timeout's 124.
refused_pub() {
	local rc
	pub "$@" 2>"$D/refused.err"
	rc=$?
	cat "$D/refused.err" >&2
	echo "exit $rc" >&2
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'Error' "$D/refused.err"
}
check "mosquitto_pub without a client certificate is refused" \
	refused_pub -t kmc/test -m "no certificate"
check "... the broker dropped it before knowing who it was" \
	wait_log 'Client <unknown> disconnected'
check "... and took no message from it" test "$(count 'Received PUBLISH')" = "$n"
check "the broker is still running" kill -0 "$BPID"

# ---- SIGHUP: the broker loads its key again, through the provider ---------------

MQPID=$(pgrep -P "$BPID" -x mosquitto)
n=$(count 'Reloading config')
lines=$(wc -l <"$BLOG")
t "SIGHUP to the broker" kill -HUP "$MQPID"
check "... it reloads" wait_more 'Reloading config' "$n"
t "... a client with a certificate connects after the reload" \
	pub "${WITH_CERT[@]}" -t kmc/test -m "after the reload"
check "... and the key loaded again without an error" \
	bash -c '! tail -n +"$(($2 + 1))" "$1" | grep -Ei "error|unable"' _ "$BLOG" "$lines"

# With the host key away, the provider cannot open the vault: the broker
# says so and keeps the key it has.
mv "$KMC_HOST_KEY" "$D/host.key.away"
lines=$(wc -l <"$BLOG")
t "SIGHUP while the host key is away" kill -HUP "$MQPID"
check "... the broker cannot load the key again, and says so" \
	wait_for since "$lines" "Error when reloading certificate .* or key '$REF'"
t "... it still serves a client with a certificate, on the key it had" \
	pub "${WITH_CERT[@]}" -t kmc/test -m "on the old key"
check "... and is still running" kill -0 "$MQPID"
mv "$D/host.key.away" "$KMC_HOST_KEY"

# ---- the client side: mosquitto_sub with its key in the vault ------------------------

# kmc_mq import of the client bundle: the CLIENT key under the name client.
t_err 0 "kmc import --name client stores the client certificate and key" \
	"imported client into $V" \
	kmc_mq import --name client -c "$PKI/ca.crt" -s "$PKI/client.crt" -k "$PKI/client.key"
if ! kmc_mq list 2>/dev/null | grep -q '^client/key\b'; then
	# kmc import verifies every leaf for the serverAuth purpose, so the
	# clientAuth-only client.crt is refused (the failure above). To go on
	# testing the client side, import the same key with a certificate of
	# the same CA that allows both purposes.
	echo "# kmc import refused client.crt; going on with a clientAuth+serverAuth certificate for client.key"
	printf '%s\n' 'basicConstraints = CA:false' \
		'keyUsage = critical, digitalSignature' \
		'extendedKeyUsage = clientAuth, serverAuth' >"$D/dual.ext"
	openssl req -new -key "$PKI/client.key" -subj "/CN=kmc test client" \
		-out "$D/dual.csr" 2>/dev/null &&
		openssl x509 -req -in "$D/dual.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
			-CAserial "$D/dual.srl" -CAcreateserial -days 30 \
			-extfile "$D/dual.ext" -out "$PKI/dual.crt" 2>/dev/null
	chown mosquitto:mosquitto "$PKI/dual.crt"
	t_err 0 "(fallback) kmc import --name client with the dual-purpose certificate" \
		"imported client into $V" \
		kmc_mq import --name client -c "$PKI/ca.crt" -s "$PKI/dual.crt" -k "$PKI/client.key"
fi
CREF=$D/client.ref.pem
t "kmc ref client --out writes the client's key-reference file" kmc_mq ref client --out "$CREF"

# The subscriber runs as mosquitto, the owner of the vault it opens.
t "mosquitto_sub --key client.ref.pem under OPENSSL_CONF (as the vault's owner) subscribes" \
	sub_bg viaref runuser -u mosquitto -- env -u KMC_HOST_KEY OPENSSL_CONF="$CONF" :: \
	--cert "$PKI/client.crt" --key "$CREF" -t kmc/ref
MSG2="to a client whose key is in the vault $$"
t "mosquitto_pub publishes to it" pub "${WITH_CERT[@]}" -t kmc/ref -m "$MSG2"
check "... and the subscriber with the vault's key receives the message" sub_got viaref "$MSG2"

t_err 1 "without OPENSSL_CONF, mosquitto_sub cannot use the reference file as a key" \
	'A TLS error occurred' \
	as_mq timeout 30 mosquitto_sub "${TLS[@]}" -p "$PORT" -C 1 -W 5 \
	--cert "$PKI/client.crt" --key "$CREF" -t kmc/ref
check "the broker is still running" kill -0 "$BPID"

done_testing
