#!/usr/bin/env bash
# test_token_gone.sh - server keys on a token that is reached through
# `p11-kit server` (a SoftHSM2 token forwarded over a unix socket in the
# temp dir, used through p11-kit's client module only), and that goes
# away. Made there: an RSA and a P-256 key (kmc key gen --on-token with
# module-path=p11-kit-client.so); openssl s_server -key kmc://... signs
# TLS 1.2 and 1.3 handshakes with both through the forwarder. A key
# loaded once in a parent signs in two forked children and in the parent
# after them (tests/e2e/token_fork.c). The server stopped while s_server
# serves: handshakes fail, s_server keeps running and names the token,
# and serves again once the token's server is back. The token's server
# stalled (SIGSTOP): a handshake fails after KMC_TOKEN_TIMEOUT instead of
# hanging, and serving resumes after SIGCONT. s_server started
# while the token is away (its server down; a token not present; a wrong
# PIN; the key replaced on the token) stops at start with a clear error
# naming the token and the cause, the pin-source not shown, in bounded
# time.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
if [ ! -e "$MOD" ] || [ ! -e "$CLIENT" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v pkcs11-tool >/dev/null || ! command -v p11-kit >/dev/null; then
	echo "# skip: SoftHSM2, pkcs11-tool, p11-kit or $CLIENT is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi

V=$T/vault
P=$T/pki
export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir -m 700 "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/tokens" >"$SOFTHSM2_CONF"
PIN=gone-pin-5
softhsm2-util --init-token --free --label fwd --so-pin so-5 --pin "$PIN" >/dev/null
PINF=$T/pin
secret_file "$PINF" "$PIN"
p11() { pkcs11-tool --module "$MOD" --token-label fwd --login --pin "$PIN" "$@" 2>/dev/null; }
# Through the forwarder only: no local token store in kmc's or a
# server's environment, and every run bounded (a hang is a failure).
kmc() { env -u SOFTHSM2_CONF timeout 60 setsid -w "$KMC" --vault "$V" "$@"; }
FWD="pkcs11:token=fwd?module-path=$CLIENT&pin-source=$PINF"

# ---- the token's server (p11kit_server.sh) --------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/p11kit_server.sh"
trap 'stop_all; p11kit_down; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

sign() {
	(cd "$P" && openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -copy_extensions copy -out "$2") >/dev/null 2>&1
}
# token_key NAME TYPE URI: a key made on the token, with a certificate.
token_key() {
	kmc key gen "$1" --type "$2" --on-token "$3" &&
		kmc csr "$1" --subject /CN=localhost --san DNS:localhost --out "$T/$1.csr" &&
		sign "$T/$1.csr" "$T/$1.crt" &&
		kmc cert set "$1" -s "$T/$1.crt" -c "$P/ca.crt"
}

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
t "a vault" kmc init
check "p11-kit server serves the token on a unix socket" p11kit_up fwd

# ---- keys made through the forwarder -------------------------------------------------

t "key gen web (rsa2048) on the forwarded token, with csr and cert" token_key web rsa2048 "$FWD"
check "the key is on the token behind the socket, sensitive" \
	bash -c 'pkcs11-tool --module "$1" --token-label fwd --login --pin "$2" --list-objects 2>/dev/null |
		grep -A8 "^Private Key Object" | grep -q "label: *web"' _ "$MOD" "$PIN"
# p11-kit 0.24 forwards CKM_ECDSA (it has no parameters): an EC key made
# and used through it works. Where a forwarder lacks it, the error must
# be kmc's clear one (exit 7 or 9, naming the token), never a crash.
kmc key gen ec --type p256 --on-token "$FWD" >"$T/ecgen.out" 2>"$T/ecgen.err"
ECRC=$?
if [ "$ECRC" = 0 ]; then
	t "csr and cert for ec (p256, made through the forwarder)" \
		bash -c 'kmc() { env -u SOFTHSM2_CONF timeout 60 "$1" --vault "$2" "${@:3}"; }
			kmc "$1" "$2" csr ec --subject /CN=localhost --san DNS:localhost --out "$3/ec.csr"' \
		_ "$KMC" "$V" "$T"
	sign "$T/ec.csr" "$T/ec.crt"
	t "cert set ec" kmc cert set ec -s "$T/ec.crt" -c "$P/ca.crt"
else
	check "an EC key the forwarder does not carry: a clear error (exit 7 or 9) naming the token" \
		bash -c '[ "$1" = 7 ] || [ "$1" = 9 ]; grep -q "token" "$2"' _ "$ECRC" "$T/ecgen.err"
fi

# ---- serving through the forwarder ---------------------------------------------------

PROVDIR=$KMC_BUILD/provider
KMC_FIRST=(-provider-path "$PROVDIR" -provider kmc -provider default)
serve() { # serve NAME ITEM: s_server with the token key ITEM, through the forwarder only
	start_s_server "$1" env -u SOFTHSM2_CONF openssl s_server "${KMC_FIRST[@]}" \
		-cert "$T/$2.crt" -key "kmc://$V?item=$2"
}
HELLO_CA=$P/ca.crt	# hello (servers.sh) verifies against it

items=(web:RSA)
[ "$ECRC" = 0 ] && items+=(ec:ECDSA)
for key in "${items[@]}"; do
	n=${key%%:*} alg=${key#*:}
	t "s_server -key kmc://...?item=$n (through the forwarder) starts" serve "$n" "$n"
	hello "$n-12" -tls1_2
	check "... TLS 1.2 signed by the forwarded $n key ($alg)" cipher_is "$n-12" "ECDHE-$alg-"
	hello "$n-13" -tls1_3
	check "... TLS 1.3 signed by the forwarded $n key" cipher_is "$n-13" TLS_AES
	stop_server "$SPID"
done

# ---- a forking server ------------------------------------------------------------------

FORK=$T/token_fork
check "the token_fork helper builds" kmc_cc "$FORK" "$KMC_TOP/tests/e2e/token_fork.c"
if [ -x "$FORK" ]; then
	t "a key loaded in the parent signs in two forked children and in the parent after them" \
		env -u SOFTHSM2_CONF "$FORK" "$PROVDIR" "kmc://$V?item=web" "$T/web.crt" 5
	cp "$OUT" "$T/fork.out"
	check "... both children and the parent said so" \
		bash -c '[ "$(grep -c "^child [0-9]*: ok$" "$1")" = 2 ] && grep -qx "parent: ok" "$1"' _ "$T/fork.out"
fi

# ---- the token goes away while s_server serves, and comes back ------------------------

t "s_server -key kmc://...?item=web starts" serve away web
hello before -tls1_3
check "... serves" cipher_is before TLS_AES
check "the token's server stops" p11kit_down
hello gone1 -tls1_3
hello gone2 -tls1_2
check "token gone: the TLS 1.3 handshake fails" failed gone1
check "... and a TLS 1.2 one" failed gone2
check "... s_server keeps running" kill -0 "$SPID"
check "... and says which token, and that its server is not reached" \
	grep -q "no token matching pkcs11:token=fwd.*is \`p11-kit server\` running" "$SLOG"
check "... without the pin-source" bash -c '! grep -q "pin-source" "$1"' _ "$SLOG"
check "the token's server starts again" p11kit_up fwd
# The token is tried again within a bound (docs/cli.md): poll, no timing.
back() {
	for _ in $(seq 40); do
		hello back -tls1_3
		cipher_is back TLS_AES && return 0
		sleep 0.25
	done
	false
}
check "token back: the same s_server serves again" back
hello back12 -tls1_2
check "... TLS 1.2 too" cipher_is back12 ECDHE-RSA-
stop_server "$SPID"

# ---- the token's server stalls (stopped, not gone) ------------------------------------
# p11-kit's client waits for a reply without a timeout of its own; kmc
# cuts its connection after KMC_TOKEN_TIMEOUT seconds (2 here): the
# handshake fails instead of hanging, and serving resumes afterwards.

t "s_server -key kmc://...?item=web starts (KMC_TOKEN_TIMEOUT=2)" \
	start_s_server stall env -u SOFTHSM2_CONF KMC_TOKEN_TIMEOUT=2 openssl s_server \
	"${KMC_FIRST[@]}" -cert "$T/web.crt" -key "kmc://$V?item=web"
hello live -tls1_3
check "... serves" cipher_is live TLS_AES
check "the token's server is stopped with SIGSTOP (its socket stays open)" kill -STOP -- "-$P11KIT_PID"
hello stalled -tls1_3
check "a handshake while it stalls fails, and does not hang (s_client not timed out)" \
	bash -c 'rc=$(cat "$1"); [ "$rc" != 0 ] && [ "$rc" != 124 ]' _ "$T/stalled.rc"
check "... s_server says the token did not answer within 2 s" \
	grep -q "the token did not answer within 2 s (KMC_TOKEN_TIMEOUT)" "$SLOG"
check "... and keeps running" kill -0 "$SPID"
check "s_server started while the token's server stalls: stops at start, in bounded time" \
	bash -c 'env -u SOFTHSM2_CONF KMC_TOKEN_TIMEOUT=2 timeout 20 openssl s_server "${@:3}" \
		-cert "$1/web.crt" -key "kmc://$2?item=web" -accept 127.0.0.1:0 -www \
		>"$1/st.out" 2>"$1/st.err" </dev/null
		rc=$?; [ "$rc" != 0 ] && [ "$rc" != 124 ] &&
		grep -q "cannot be used: the token did not answer within 2 s" "$1/st.err"' \
	_ "$T" "$V" "${KMC_FIRST[@]}"
check "the token's server continues (SIGCONT)" kill -CONT -- "-$P11KIT_PID"
check "the token answers again: the same s_server serves again" back
stop_server "$SPID"

# ---- s_server started while the token is away ----------------------------------------

# start_fails NAME ITEM REGEX: s_server exits non-zero, at once (not a
# timeout), its error matching REGEX and without the pin-source.
start_fails() {
	local rc
	env -u SOFTHSM2_CONF timeout 20 openssl s_server "${KMC_FIRST[@]}" -cert "$T/$2.crt" \
		-key "kmc://$V?item=$2" -accept 127.0.0.1:0 -www >"$T/$1.out" 2>"$T/$1.err" </dev/null
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -Eq -- "$3" "$T/$1.err" &&
		! grep -q "pin-source" "$T/$1.err" || {
		echo "exit $rc" >&2
		cat "$T/$1.err" >&2
		false
	}
}
check "the token's server stops" p11kit_down
check "s_server without the token's server: stops at start naming the token and the cause" \
	start_fails nosrv web "the token key pkcs11:token=fwd;.*cannot be used: no token matching pkcs11:token=fwd.*is \`p11-kit server\` running"
check "the token's server starts again" p11kit_up fwd
check "... and s_server starts with the key again" serve again web
hello again -tls1_3
check "... and serves" cipher_is again TLS_AES
stop_server "$SPID"

secret_file "$T/pin" "not-the-pin"
check "s_server with a wrong PIN in the key's pin-source: stops at start, saying so" \
	start_fails badpin web "the token key pkcs11:token=fwd;.*cannot be used: token fwd: wrong PIN"
secret_file "$T/pin" "$PIN"

# The key deleted on the token, and another made in its place with the
# same label and id: not the key the certificate is for.
ID=$(p11 --list-objects --type privkey | awk '/label: *web$/ { f = 1 } f && /ID:/ { print $2; exit }')
check "the key web replaced on the token (same label and id)" \
	bash -c 'p11() { pkcs11-tool --module "$1" --token-label fwd --login --pin "$2" "${@:3}" >/dev/null 2>&1; }
		p11 "$1" "$2" --delete-object --type privkey --label web &&
		p11 "$1" "$2" --delete-object --type pubkey --label web &&
		p11 "$1" "$2" --keypairgen --key-type rsa:2048 --label web --id "$3" --sensitive' \
	_ "$MOD" "$PIN" "$ID"
check "s_server with the replaced key: stops at start, saying it is not the recorded key" \
	start_fails replaced web "the token key pkcs11:token=fwd;.*cannot be used: the token's key is not the one the vault recorded"

# A token not present (SoftHSM2 directly, its token store emptied).
p11kit_down
# Under ASan the provider brings the ASan runtime into an uninstrumented
# openssl after libstdc++, and SoftHSM2 (C++) loaded in-process then
# frees with the runtime's operator delete what it allocated before it:
# a false alarm of the set-up, not of kmc (test_token_keys.sh meets the
# same). The forwarded token above never loads SoftHSM2 in the server.
if [ -n "${KMC_SANITIZED:-}" ]; then
	echo "# skip under ASan: SoftHSM2 loaded into s_server (see above)"
	done_testing
	exit
fi
DIRECT="pkcs11:token=fwd?module-path=$MOD&pin-source=$PINF"
t "key gen direct (p256) on SoftHSM2 directly" env SOFTHSM2_CONF="$SOFTHSM2_CONF" \
	"$KMC" --vault "$V" key gen direct --type p256 --on-token "$DIRECT"
cp "$T/ec.crt" "$T/direct.crt" 2>/dev/null || cp "$T/web.crt" "$T/direct.crt"
mkdir -m 700 "$T/empty"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/empty" >"$T/empty.conf"
nopresent() {
	local rc
	env SOFTHSM2_CONF="$T/empty.conf" timeout 20 openssl s_server "${KMC_FIRST[@]}" \
		-cert "$T/direct.crt" -key "kmc://$V?item=direct" -accept 127.0.0.1:0 -www \
		>"$T/np.out" 2>"$T/np.err" </dev/null
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] &&
		grep -q "cannot be used: no token matching pkcs11:token=fwd.* in [^ ]*libsofthsm2.so (is it plugged in and initialized?)" "$T/np.err" ||
		{ echo "exit $rc" >&2; cat "$T/np.err" >&2; false; }
}
check "s_server with the token not present: stops at start naming the token" nopresent

done_testing
