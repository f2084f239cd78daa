#!/usr/bin/env bash
# test_pkcs11_remote.sh - a network-attached token, simulated by
# `p11-kit server` forwarding a SoftHSM2 token over a unix socket in the
# temp dir; kmc reaches it only through p11-kit's client module
# (module-path=p11-kit-client.so, P11_KIT_SERVER_ADDRESS). The vault is
# made and used through it, then the server is stopped: opening must fail
# with a clear error, never hang, and fall back to a passphrase
# protector; a process that opened through it before must survive.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
if [ ! -e "$MOD" ] || [ ! -e "$CLIENT" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v pkcs11-tool >/dev/null || ! command -v p11-kit >/dev/null; then
	echo "# skip: SoftHSM2, pkcs11-tool, p11-kit or $CLIENT is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi

# The token lives in the temp dir and is served from there.
export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir -m 700 "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/tokens" >"$SOFTHSM2_CONF"
PIN=remote-pin-3141
PINF=$T/pin
secret_file "$PINF" "$PIN"
BADPIN=$T/pin.bad
secret_file "$BADPIN" 'not-the-pin-99'
PW=$T/pw
secret_file "$PW" 'db password 1'
PP=$T/pp
secret_file "$PP" 'the vault passphrase'
softhsm2-util --init-token --free --label remote --so-pin so-secret-1 --pin "$PIN" >/dev/null

# ---- the server ------------------------------------------------------------------------------
# In its own session (p11kit_server.sh): p11-kit server serves every
# client from a child, which outlives a signal to the listener alone.
. "$(dirname "${BASH_SOURCE[0]}")/p11kit_server.sh"
trap 'p11kit_down; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

# Every kmc without a terminal (a missing secret fails at once), without
# the local token store (the token is reached through the socket only),
# and bounded in time: a hang is a failure, not a stuck test.
kmc() { env -u SOFTHSM2_CONF timeout 60 setsid -w "$KMC" "$@"; }
uri() { printf 'pkcs11:token=remote;object=%s?module-path=%s' "$1" "$CLIENT"; }
LAST_OUT=$T/last.out
LAST_ERR=$T/last.err
keep() { cp "$OUT" "$LAST_OUT"; cp "$ERR" "$LAST_ERR"; }

check "p11-kit server serves the token on a unix socket in the temp dir" p11kit_up remote
check "the server printed P11_KIT_SERVER_ADDRESS for that socket" \
	grep -qF "P11_KIT_SERVER_ADDRESS=unix:path=$SOCK" "$T/p11kit.out"
check "the client module sees token remote through the socket alone" \
	bash -c 'env -u SOFTHSM2_CONF timeout 60 pkcs11-tool --module "$1" -L 2>/dev/null |
		grep -q "token label *: remote$"' _ "$CLIENT"

# ---- --create-key through the socket ---------------------------------------------------------------
# p11-kit's RPC forwards only the mechanisms whose parameters it can
# carry: 0.24 has RSA-OAEP but neither AES-CBC nor AES-GCM. Where it has
# AES-CBC, a key made through it must work; where not, say so plainly.

objects() { pkcs11-tool --module "$MOD" --token-label remote --login --pin "$PIN" --list-objects 2>/dev/null; }
objects >"$T/objects.before"
VC=$T/vc
if env -u SOFTHSM2_CONF timeout 60 pkcs11-tool --module "$CLIENT" -M 2>/dev/null | grep -q '^ *AES-CBC,'; then
	t "init --create-key through the remote token" \
		kmc --vault "$VC" init --protector pkcs11 --pkcs11-uri "$(uri created-key)" \
		--pin-file "$PINF" --create-key
	t "... password set through it" kmc --vault "$VC" password set db --password-file "$PW" --pin-file "$PINF"
	t_out "... password get through it" 'db password 1' kmc --vault "$VC" password get db --pin-file "$PINF"
else
	echo "# this p11-kit's RPC forwards no AES-CBC: --create-key must be refused plainly"
	t_err 9 "init --create-key through the remote token: refused (exit 9), naming AES-CBC" \
		"no AES-CBC" kmc --vault "$VC" init --protector pkcs11 --pkcs11-uri "$(uri created-key)" \
		--pin-file "$PINF" --create-key
	check "... no vault was made" test ! -e "$VC"
	objects >"$T/objects.now"
	check "... and no key was left on the token" diff "$T/objects.before" "$T/objects.now"
fi

# ---- an RSA key made beforehand, directly on SoftHSM2 ----------------------------------------------

check "pkcs11-tool makes an RSA 2048 key pair directly on SoftHSM2" \
	pkcs11-tool --module "$MOD" --token-label remote --login --pin "$PIN" --keypairgen \
	--key-type rsa:2048 --label vault-rsa --id 02 --usage-decrypt
V=$T/v
t "init through the remote token with the RSA key" \
	kmc --vault "$V" init --protector pkcs11 --pkcs11-uri "$(uri vault-rsa)" --pin-file "$PINF"
kmc --vault "$V" protector list --json >"$T/list.json" 2>/dev/null
check "protector list: pkcs11, rsa-oaep-sha1, through p11-kit-client.so" \
	jq -e --arg m "module-path=${CLIENT//\//%2F}" 'length == 1 and .[0].type == "pkcs11" and
		(.[0].detail | startswith("rsa-oaep-sha1 pkcs11:token=remote;object=vault-rsa") and
		contains($m))' "$T/list.json"
t "password set through the remote token" \
	kmc --vault "$V" password set db --password-file "$PW" --pin-file "$PINF"
t_out "password get through the remote token" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF"
t_err 3 "a wrong PIN through the remote token: exit 3 saying wrong PIN" "token remote: wrong PIN" \
	kmc --vault "$V" password get db --pin-file "$BADPIN"
VE=$T/ve
t "init through the remote token with --mechanism rsa-oaep" \
	kmc --vault "$VE" init --protector pkcs11 --pkcs11-uri "$(uri vault-rsa)" --pin-file "$PINF" \
	--mechanism rsa-oaep
t "protector add passphrase (the vault opened through the remote token)" \
	kmc --vault "$V" protector add passphrase --passphrase-file "$PP" --argon2-ops 1 \
	--argon2-mem 8 --pin-file "$PINF"
t_out "with the token there, the token opens it (no passphrase given)" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF"

# ---- one process through the socket ---------------------------------------------------------------

FORK=$T/p11_fork
# shellcheck disable=SC2046
check "the p11_fork helper builds" kmc_cc "$FORK" "$KMC_TOP/tests/e2e/p11_fork.c"
fork() { env -u SOFTHSM2_CONF timeout 120 "$FORK" "$@"; }
if [ -x "$FORK" ]; then
	kmc --vault "$VE" password set db --password-file "$PW" --pin-file "$PINF" 2>/dev/null
	t "fork through the remote token: parent, child and parent again all read" \
		fork fork "$VE" db 'db password 1' "$PINF"
	keep
	check "... through the token each time" \
		bash -c '[ "$(grep -c "^open [0-9]*: protector 1$" "$1")" = 3 ] &&
			grep -qx "parent: ok" "$1"' _ "$LAST_OUT"
	t "50 rounds of open + get + close in one process through the remote token" \
		fork loop "$VE" db 'db password 1' "$PINF" 50
fi

# ---- the server goes away ------------------------------------------------------------------------
# The command system() runs inside the helper stops the whole server and
# waits until every process of it has exited.

stop_cmd() {
	printf 'kill -TERM -%s; i=0; while [ $i -lt 100 ] && ps -e -o pgid=,stat= | awk -v g=%s %s; do sleep 0.1; i=$((i+1)); done' \
		"$P11KIT_PID" "$P11KIT_PID" "'\$1 == g && \$2 !~ /^Z/ { f = 1 } END { exit !f }'"
}
# after_loss [ENV...] -- [PASSFILE]: p11_fork opens and reads through the
# token, the server is stopped, and it opens again (with the passphrase
# in PASSFILE if given). Succeeds when that second open fails cleanly
# (exit 10) naming the token's protector, or, with PASSFILE, opens with
# the passphrase after the token failed.
after_loss() {
	local envs=() rc
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env -u SOFTHSM2_CONF "${envs[@]}" timeout 120 "$FORK" between "$V" db 'db password 1' \
		"$PINF" "$(stop_cmd)" "$@" >"$T/loss.out" 2>"$T/loss.err"
	rc=$?
	wait "$P11KIT_PID" 2>/dev/null
	if [ $# = 0 ]; then
		[ "$rc" = 10 ] && grep -Eq 'protector 1 \(pkcs11\): ' "$T/loss.err"
	else
		[ "$rc" = 0 ] && grep -Eq '^open 2: protector 2$' "$T/loss.out" &&
			grep -Eq '^open 2: after protector 1 \(pkcs11\)' "$T/loss.out"
	fi || {
		echo "exit $rc$([ "$rc" -gt 128 ] && echo " (killed by signal $((rc - 128)))")" >&2
		sed 's/^/out: /' "$T/loss.out" >&2
		sed 's/^/err: /' "$T/loss.err" >&2
		false
	}
}
if [ -x "$FORK" ]; then
	# SIGPIPE keeps its default action, as in a program that never
	# thought about it: losing the token must not kill the process.
	check "a process that opened through the token, then lost the server: its next open fails cleanly" \
		after_loss --
	check "the server is back" p11kit_up remote
	check "... and with a passphrase protector it falls back to the passphrase" \
		after_loss -- "$PP"
	check "the server is back" p11kit_up remote
	# As many servers run: SIGPIPE ignored. This tells a process killed by
	# a signal apart from kmc's own handling of the lost token.
	check "the same with SIGPIPE ignored: the next open fails cleanly" \
		after_loss P11_FORK_IGNORE_SIGPIPE=1 --
	check "the server is back" p11kit_up remote
	check "... and falls back to the passphrase" after_loss P11_FORK_IGNORE_SIGPIPE=1 -- "$PP"
	check "the server is back" p11kit_up remote
fi

p11kit_down
check "the server is stopped and its socket gone" test ! -e "$SOCK"
before=$(snapshot "$V")
t_err 7 "server stopped: password get fails at once (exit 7, not a hang) saying no token" \
	"protector 1 \(pkcs11\): no token matching pkcs11:token=remote" \
	kmc --vault "$V" password get db --pin-file "$PINF"
t_out "server stopped: the passphrase protector opens the vault instead" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF" --passphrase-file "$PP"
keep
check "... and stderr names the token's failure and the protector that opened it" \
	grep -Eq "opened .* with protector 2 after: protector 1 \(pkcs11\): no token matching" "$LAST_ERR"
t_err 7 "server stopped: a vault with the token only fails at once (exit 7)" "no token matching" \
	kmc --vault "$VE" password get db --pin-file "$PINF"
check "a stopped server changed nothing in the vault" test "$before" = "$(snapshot "$V")"
t_err 7 "server stopped: protector add through it fails at once (exit 7)" "no token matching" \
	kmc --vault "$V" protector add pkcs11 --pkcs11-uri "$(uri vault-rsa)" --pin-file "$PINF" \
	--passphrase-file "$PP"
check "... and changed nothing" test "$before" = "$(snapshot "$V")"

check "the server starts again" p11kit_up remote
t_out "with the server back, the token opens the vault again" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF"
keep
check "... with no fallback" test ! -s "$LAST_ERR"
p11kit_down

done_testing
