#!/usr/bin/env bash
# test_tls_server_expiry.sh - examples/tls_server and its certificate's
# dates: it will not start on an expired or not yet valid certificate
# (exit 3, naming the bundle and the date), warns within --warn-days at
# start and when the horizon is crossed, stops serving when the
# certificate expires while it runs (exit 4, with a log line) unless a
# renewed one arrived first, and refuses to reload to an expired one.
#
# Certificates are signed here with openssl ca and explicit dates: some
# expire (or cross a one-day horizon) some seconds after they are signed.
# No check measures time: each waits, bounded, for the server's log line
# or exit, and the order of events is what is checked.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
PKI=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'stop_all; rm -rf "$T"' EXIT
# check empties $OUT: keep a command's stdout in $O.
O=$T/o
keep() { cp "$OUT" "$O"; }

# ---- material ------------------------------------------------------------------

"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
# Several certificates for CN=localhost: openssl ca must allow that.
echo 'unique_subject = no' >"$PKI/index.txt.attr"
KEYPW=$T/keypw
secret_file "$KEYPW" 'server-key-password'
utc() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
# sign OUT START END: a certificate for the server key (server.csr),
# valid from START to END (YYYYMMDDHHMMSSZ).
sign() {
	(cd "$PKI" && openssl ca -config ca.cnf -batch -notext -startdate "$2" \
		-enddate "$3" -extensions server -in server.csr -out "$1") >"$T/.ossl" 2>&1 ||
		{ cat "$T/.ossl" >&2; return 1; }
}
# iso CERT: its notAfter as the server logs it.
iso() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ; }
# import_into VAULT CERT [NAME]: import the bundle with CERT into VAULT.
import_into() {
	"$KMC" --vault "$1" import -c "$PKI/ca.crt" -s "$2" -k "$PKI/server.key" \
		--password-file "$KEYPW" ${3:+--name "$3"}
}
# greet PORT: one request from the test client: greeted (exit 0).
greet() {
	timeout 30 "$LOADER" --ca "$PKI/ca.crt" --cert "$PKI/client.crt" \
		--key "$PKI/client.key" --interval-ms 0 --max 1 "$1"
}
# presented NAME PORT CERT: the server on PORT presents CERT (and greets).
presented() {
	timeout 20 openssl s_client -connect "127.0.0.1:$2" -CAfile "$PKI/ca.crt" \
		-verify_return_error -ign_eof -cert "$PKI/client.crt" \
		-key "$PKI/client.key" </dev/null >"$T/$1.out" 2>"$T/$1.err" &&
		grep -qx 'hello kmc test client' "$T/$1.out" && served "$1" "$3"
}
not_listening() { ! listening "$1"; }
# ended_with NAME RC: server NAME has exited (bounded, 60 s: its
# certificate may still have some seconds to run) with status RC.
ended_with() {
	local pid _ rc
	pid=$(pid_of "$1")
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait_exit "$pid"
	rc=$?
	[ "$rc" = "$2" ] || { echo "exit $rc, wanted $2" >&2; return 1; }
}

check "the tls_load client builds" build_tls_load
t "openssl ca signs a certificate for the server key that expired 2021-01-01" \
	sign expired.crt 20200101000000Z 20210101000000Z
t "... and one valid only from 2099-01-01" sign future.crt 20990101000000Z 20991231000000Z

# ---- over time: expiry, renewal, a horizon crossed ------------------------------------------

# Signed at NOW: short.crt ends at NOW+20 s, day.crt one day later. The
# servers below start, and R is renewed, within those seconds (each step
# takes a fraction of one); the sections after run while the time passes,
# and the outcome is checked at the end, waiting for what the servers log.
# What needs no certificate (the vaults) is made before NOW, and R's
# renewal, which must come before short.crt ends, comes first after the
# servers start, so that a loaded machine has the most of those seconds.
for v in vx vr vc; do
	t "init vault ${v^^}" "$KMC" --vault "$T/$v" init
done
NOW=$(date -u +%s)
t "openssl ca signs short.crt, ending in 20 s" sign short.crt "$(utc $((NOW - 60)))" "$(utc $((NOW + 20)))"
t "... and day.crt, ending in a day and 20 s" sign day.crt "$(utc $((NOW - 60)))" "$(utc $((NOW + 86420)))"
END_SHORT=$(iso "$PKI/short.crt")
END_DAY=$(iso "$PKI/day.crt")
END30=$(iso "$PKI/server.crt")
t "vault VX holds short.crt (for expiry)" import_into "$T/vx" "$PKI/short.crt"
t "vault VR holds it too (for renewal)" import_into "$T/vr" "$PKI/short.crt"
t "vault VC holds day.crt (for crossing a horizon of one day)" import_into "$T/vc" "$PKI/day.crt"

t "server R on VR starts" start_tls_server r --vault "$T/vr"
check "R serves a client" greet "$(port_of r)"
t "kmc cert renew gives R's key a renewed certificate (server.crt, 30 days)" \
	"$KMC" --vault "$T/vr" cert renew server -s "$PKI/server.crt"
t "server X on VX starts" start_tls_server x --vault "$T/vx"
t "server C on VC, --warn-days 1, starts" start_tls_server c --vault "$T/vc" --warn-days 1
check "C serves a client" greet "$(port_of c)"
check "... and has not warned: a day and some seconds are left" test "$(log_count c warning)" = 0
check "X serves a client (short.crt has not expired)" greet "$(port_of x)"
# The renewal is more than one commit (its journal first): the reload
# that counts is the one at the generation it ended at (tls_servers.sh).
check "R reloads at the renewal's last generation" await_reloaded r "$T/vr"
check "... and logs the new certificate's end" \
	await_log r "^tls_server: certificate CN=localhost valid until $END30$"

# ---- it will not start out of the dates -----------------------------------------------

t "init a vault" kmc init
t "import the bundle (valid 30 days) as server" import_into "$V" "$PKI/server.crt"
t "... and as old" import_into "$V" "$PKI/server.crt" old
t "... and as future" import_into "$V" "$PKI/server.crt" future
# kmc import refuses certificates out of their dates; the item_put helper
# stores them through the C API, as a vault can come to hold one.
PUT=$T/item_put
check "the item_put helper builds" kmc_cc "$PUT" "$KMC_TOP/tests/e2e/item_put.c"
check "old/cert becomes the expired certificate, future/cert the future one" bash -c '
	"$1" "$2" old/cert certificate "$3/expired.crt" &&
	"$1" "$2" future/cert certificate "$3/future.crt"' _ "$PUT" "$V" "$PKI"

t_err 3 "an expired certificate: exit 3, naming the bundle, the vault and the date" \
	"^tls_server: bundle old in $(re "$V"): certificate CN=localhost expired 2021-01-01T00:00:00Z; not starting$" \
	timeout 20 "$SRV" --vault "$V" --name old
keep
check "... it never listened" test ! -s "$O"
t_err 3 "a certificate not valid yet: exit 3, naming when it becomes valid" \
	'^tls_server: bundle future in .*: certificate CN=localhost is not valid until 2099-01-01T00:00:00Z; not starting$' \
	timeout 20 "$SRV" --vault "$V" --name future
keep
check "... it never listened" test ! -s "$O"
t_err 2 "--warn-days takes a number of days" 'usage: tls_server.*--warn-days' \
	"$SRV" --vault "$V" --warn-days -1
t_err 2 "... up to a hundred years" 'usage: tls_server' "$SRV" --vault "$V" --warn-days 36501

# ---- the warning at start --------------------------------------------------------------

t "a server with the default horizon (30 days) starts" start_tls_server w30 --vault "$V"
check "... logs the certificate and its end" \
	grep -qx "tls_server: certificate CN=localhost valid until $END30" "$T/w30.log"
check "... and warns: the bundle, the certificate, the date, how soon and the horizon" \
	await_log w30 "^tls_server: warning: bundle server: certificate CN=localhost expires $END30, in (29|30) days \(--warn-days 30\)$"
check "... once" test "$(log_count w30 warning)" = 1
check "... and serves" greet "$(port_of w30)"
t "SIGTERM stops it: exit 0" stop_server "$(pid_of w30)"

t "a server with --warn-days 29 starts" start_tls_server w29 --vault "$V" --warn-days 29
check "... serves a client" greet "$(port_of w29)"
check "... and has not warned (29 days and some hours are left)" test "$(log_count w29 warning)" = 0
t "SIGTERM stops it: exit 0" stop_server "$(pid_of w29)"

# ---- a reload to an expired certificate is refused -----------------------------------------

t "server M on the 30-day bundle starts" start_tls_server m --vault "$V" --warn-days 0
check "the expired certificate replaces server/cert in the vault (item_put)" \
	"$PUT" "$V" server/cert certificate "$PKI/expired.crt"
check "M refuses the reload at the vault's generation" await_refused m "$V"
check "... naming the certificate and the date, and keeps serving" \
	grep -Eq "^tls_server: reload of generation $(vault_generation "$V") refused: bundle server: certificate CN=localhost expired 2021-01-01T00:00:00Z; still serving the previous material$" "$T/m.log"
check "... the previous certificate, to clients it greets" presented m-kept "$(port_of m)" "$PKI/server.crt"
check "... without a reload" test "$(log_count m 'reloaded')" = 0
t "kmc import --replace brings a good certificate (day.crt)" \
	kmc import --replace -c "$PKI/ca.crt" -s "$PKI/day.crt" -k "$PKI/server.key" \
	--password-file "$KEYPW"
check "M reloads it, at the import's last generation" await_reloaded m "$V"
check "... and presents it" presented m-new "$(port_of m)" "$PKI/day.crt"
check "... and with --warn-days 0 has warned of nothing" test "$(log_count m warning)" = 0

# ---- over time: the outcome ---------------------------------------------------------------

check "X exits 4 when short.crt expires" ended_with x 4
check "... logging the bundle, the certificate and when, and that it stops serving" \
	grep -qx "tls_server: bundle server: certificate CN=localhost expired $END_SHORT and no renewed certificate arrived; no longer serving" "$T/x.log"
check "... its port no longer answers" not_listening "$(port_of x)"
check "... short.crt has expired indeed" bash -c '! openssl x509 -checkend 0 -noout -in "$1"' _ "$PKI/short.crt"
check "R, renewed before, is still running" kill -0 "$(pid_of r)"
check "... presents the renewed certificate and greets" presented r-after "$(port_of r)" "$PKI/server.crt"
check "... and logged no expiry" test "$(log_count r 'expired|no longer')" = 0

check "C warns when less than a day is left: the date, how soon, the horizon" \
	await_log c "^tls_server: warning: bundle server: certificate CN=localhost expires $END_DAY, in (23 hours|1 day) \(--warn-days 1\)$"
check "... after it greeted the client (crossed, not at start)" \
	bash -c 'grep -E "greeted|warning" "$1" | tail -1 | grep -q warning' _ "$T/c.log"
check "... and still serves" greet "$(port_of c)"

for s in m r c; do
	t "SIGTERM stops server ${s^^}: exit 0" stop_server "$(pid_of "$s")"
done
done_testing
