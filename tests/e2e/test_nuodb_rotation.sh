#!/usr/bin/env bash
# test_nuodb_rotation.sh - NuoDB's seven steps for replacing the CA of a
# cluster without downtime, run with kmc against three examples/tls_server
# processes on loopback, each with its own vault, under a client load
# (tests/e2e/tls_load.c: mutual TLS, a new connection per request, round
# robin over the three) that runs from before the first step to after the
# last:
#   1 a new CA, and new keys and certificates of it;
#   2 the new CA trusted by every server (kmc trust add, trust store peers);
#   3 ... and by every client (the clients' trust store, exported);
#   4 each server's key and certificate staged and promoted, one server at
#     a time; the server reloads, no restart;
#   5 the clients' own certificates moved to the new CA, and every server
#     seen presenting the new chain;
#   6 the old CA removed from every trust store by its alias;
#   7 kmc cert info --json per server: the certificate, its dates, issuer
#     and subject, the trust store and its aliases; and expiry polling.
# Asserted: no request of the load failed, no server refused a handshake
# during the rotation, clients of the old CA are refused after the last
# step, and what kmc cert info says of each server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

trap 'stop_all; rm -rf "$T"' EXIT
OLD=$T/old	# the CA in use at the start
NEW=$T/new	# the CA of step 1
KEYPW=$T/keypw
secret_file "$KEYPW" 'server-key-password'
kv() { local n=$1; shift; "$KMC" --vault "$T/v$n" "$@"; }
kc() { "$KMC" --vault "$T/clients" "$@"; }
SERVERS=(1 2 3)
O=$T/o
keep() { cp "$OUT" "$O"; }

# The clients' files, which the load reads for every request: their
# trust store (PEM) and their certificate with its key (one file). Each
# is replaced by rename, so the load never reads half a file.
CL=$T/client
mkdir -m 700 "$CL"
put() { cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"; }
client_pem() { cat "$1/client.crt" "$1/client.key" >"$CL/me.tmp" && mv -f "$CL/me.tmp" "$CL/me.pem"; }
# export_client_trust: kmc trust export of the clients' store into the
# file the load reads (a fresh file: --out does not overwrite).
export_client_trust() {
	rm -f "$CL/export.pem"
	kc trust export --store clients --out "$CL/export.pem" && put "$CL/export.pem" "$CL/trust.pem"
}

# presents NAME SERVER CAFILE CERT: server SERVER presents CERT, which
# verifies against CAFILE alone, and greets the client of $CL/me.pem.
presents() {
	timeout 20 openssl s_client -connect "127.0.0.1:$(port_of "srv$2")" \
		-CAfile "$3" -verify_return_error -ign_eof -cert "$CL/me.pem" \
		-key "$CL/me.pem" </dev/null >"$T/$1.out" 2>"$T/$1.err" &&
		grep -qx 'hello kmc test client' "$T/$1.out" && served "$1" "$4"
}
# refused NAME SERVER PKI: a client with PKI's client certificate gets no
# greeting from server SERVER, and the server logged a refused handshake.
refused() {
	local n
	n=$(log_count "srv$2" 'handshake failed')
	timeout 20 openssl s_client -connect "127.0.0.1:$(port_of "srv$2")" \
		-CAfile "$NEW/ca.crt" -ign_eof -cert "$3/client.crt" -key "$3/client.key" \
		</dev/null >"$T/$1.out" 2>"$T/$1.err"
	! grep -q hello "$T/$1.out" && await_log "srv$2" 'handshake failed' "$n"
}
# reloaded SERVER: server SERVER has reloaded at its vault's generation
# now. A change may be more than one commit (promote: its journal first),
# and staging changes the vault too: a count of reloads would grow before
# the change had landed (tls_servers.sh).
reloaded() { await_reloaded "srv$1" "$T/v$1"; }
# under_load: the load made a round of requests (one to each server) since.
under_load() { await_load load 3; }
# load_clean: nothing the load sent failed (its failures shown if any).
load_clean() {
	[ "$(load_field load handshake_failed)" = 0 ] &&
		[ "$(load_field load other_failed)" = 0 ] ||
		{ cat "$T/load.err" >&2; false; }
}

steady() { under_load && load_clean; }
differ() { [ "$(fingerprint "$1")" != "$(fingerprint "$2")" ]; }
# only_ca FILE CA: FILE holds one certificate, CA.
only_ca() { [ "$(grep -c 'BEGIN CERTIFICATE' "$1")" = 1 ] && ! differ "$1" "$2"; }
all_ok() { [ "$(load_field load ok)" = "$(load_field load requests)" ]; }
# pem_is JSONFILE JQPATH CERT: the PEM at JQPATH is CERT.
pem_is() { [ "$(jq -r "$2" "$1" | openssl x509 -noout -fingerprint -sha256)" = "$(fingerprint "$3")" ]; }

# ---- before: three servers of the old CA, clients, a load ------------------------------

t "mkpki makes the old CA (CN=kmc test CA)" "$KMC_TOP/tools/mkpki.sh" "$OLD"
for n in "${SERVERS[@]}"; do
	t "... and a key and certificate for server $n" "$OLD/issue.sh" "$OLD/s$n" P-256 server-key-password
	t "init vault $n" kv "$n" init
	t "trust store peers of vault $n trusts the old CA as old-ca" \
		kv "$n" trust add old-ca "$OLD/ca.crt" --store peers
done
t "server 1's bundle imported with --trust peers" kv 1 import -c "$OLD/ca.crt" \
	-s "$OLD/s1.crt" -k "$OLD/s1.key" --password-file "$KEYPW" --trust peers
for n in 2 3; do
	t "server $n's bundle imported" kv "$n" import -c "$OLD/ca.crt" \
		-s "$OLD/s$n.crt" -k "$OLD/s$n.key" --password-file "$KEYPW"
	t "... and set to trust store peers (kmc cert set-trust)" kv "$n" cert set-trust server peers
done
for n in "${SERVERS[@]}"; do
	t "tls_server $n starts on vault $n" start_tls_server "srv$n" --vault "$T/v$n"
done

t "the clients' vault" kc init
t "... its trust store clients trusts the old CA as old-ca" kc trust add old-ca "$OLD/ca.crt" --store clients
t "... exported as the clients' trust store file" export_client_trust
check "... which holds the old CA alone" only_ca "$CL/trust.pem" "$OLD/ca.crt"
t "the clients' certificate is the old CA's" client_pem "$OLD"
check "the tls_load client builds" build_tls_load
start_load load --ca "$CL/trust.pem" --cert "$CL/me.pem" --key "$CL/me.pem" --interval-ms 100 \
	"$(port_of srv1)" "$(port_of srv2)" "$(port_of srv3)"
check "the load runs against all three servers" under_load
check "... and nothing fails" load_clean

# ---- step 1: a new CA -------------------------------------------------------------------

t "step 1: mkpki makes the new CA (CN=kmc test CA 2)" \
	env MKPKI_CA_CN='kmc test CA 2' "$KMC_TOP/tools/mkpki.sh" "$NEW"
for n in "${SERVERS[@]}"; do
	t "... and a new key and certificate for server $n" "$NEW/issue.sh" "$NEW/s$n" P-256 server-key-password
done
check "... the two CAs differ" differ "$OLD/ca.crt" "$NEW/ca.crt"

# ---- step 2: every server trusts the new CA ---------------------------------------------------

for n in "${SERVERS[@]}"; do
	t "step 2: server $n's trust store peers adds the new CA as new-ca" \
		kv "$n" trust add new-ca "$NEW/ca.crt" --store peers
	check "... server $n reloads" reloaded "$n"
	check "... under load, nothing failing" steady
done

# ---- step 3: every client trusts the new CA ----------------------------------------------------

t "step 3: the clients' trust store adds the new CA as new-ca" \
	kc trust add new-ca "$NEW/ca.crt" --store clients
t "... exported to the clients" export_client_trust
check "... which now holds both CAs" test "$(grep -c 'BEGIN CERTIFICATE' "$CL/trust.pem")" = 2
check "... under load, nothing failing" steady

# ---- step 4: new keys, one server at a time ------------------------------------------------------

for n in "${SERVERS[@]}"; do
	t "step 4: server $n's new key and certificate imported as staged" \
		kv "$n" import --name server -c "$NEW/ca.crt" -s "$NEW/s$n.crt" -k "$NEW/s$n.key" \
		--password-file "$KEYPW" --stage
	check "... server $n still presents the old certificate" \
		presents "s$n-staged" "$n" "$CL/trust.pem" "$OLD/s$n.crt"
	t "... kmc cert info shows it staged, the live certificate still the old" \
		kv "$n" cert info server --json
	keep
	check "... (staged true, issuerName the old CA)" \
		jq -e '.[0] | .staged == true and .issuerName == "CN=kmc test CA"' "$O"
	t "... kmc promote server makes them live" kv "$n" promote server
	check "... server $n reloads (same process)" reloaded "$n"
	check "... and presents the new certificate" presents "s$n-next" "$n" "$CL/trust.pem" "$NEW/s$n.crt"
	check "... verified by the new CA alone" \
		presents "s$n-new" "$n" "$NEW/ca.crt" "$NEW/s$n.crt"
	check "... under load, nothing failing" steady
done

# ---- step 5: the rest moves to the new chain ------------------------------------------------------

t "step 5: the clients' certificate becomes the new CA's" client_pem "$NEW"
check "... under load, nothing failing" steady
for n in "${SERVERS[@]}"; do
	check "... server $n serves the new chain to the new client" \
		presents "s$n-chain" "$n" "$NEW/ca.crt" "$NEW/s$n.crt"
done

# ---- step 6: the old CA is trusted nowhere ------------------------------------------------------

for n in "${SERVERS[@]}"; do
	t "step 6: server $n's trust store peers removes old-ca" kv "$n" trust rm old-ca --store peers
	check "... server $n reloads" reloaded "$n"
	check "... under load, nothing failing" steady
done
t "... the clients' trust store removes old-ca" kc trust rm old-ca --store clients
t "... exported to the clients" export_client_trust
check "... which holds the new CA alone" only_ca "$CL/trust.pem" "$NEW/ca.crt"
check "... under load, nothing failing" steady

t "the load stops: exit 0, no request failed" stop_load load
check "... it made requests throughout, none failed" \
	grep -Eqx 'requests [1-9][0-9]+ ok [1-9][0-9]+ handshake_failed 0 other_failed 0' "$T/load.out"
check "... (and its count of ok requests equals its requests)" all_ok
for n in "${SERVERS[@]}"; do
	check "server $n refused no handshake during the rotation" test "$(log_count "srv$n" 'handshake failed')" = 0
	check "... nor any reload" log_none "srv$n" 'refused|failed'
	check "server $n is the process started before step 1" kill -0 "$(pid_of "srv$n")"
	check "a client of the old CA is refused by server $n now" refused "old$n" "$n" "$OLD"
	check "... a client of the new CA is greeted" presents "new$n" "$n" "$NEW/ca.crt" "$NEW/s$n.crt"
done

# ---- step 7: what each server's vault says ---------------------------------------------------------

# The leaf of kmc cert info --json (an array, the leaf first).
leaf='(if type == "array" then .[0] else . end)'
aliases="[$leaf.trusted[] | if type == \"object\" then .alias else . end]"
for n in "${SERVERS[@]}"; do
	t "step 7: kmc cert info server --json on vault $n" kv "$n" cert info server --json
	keep
	ms=$(( $(date -u -d "$(openssl x509 -in "$NEW/s$n.crt" -noout -enddate | cut -d= -f2)" +%s) * 1000 ))
	check "... subjectName CN=localhost, issuerName the new CA, expires its end in ms" \
		jq -e "$leaf | .subjectName == \"CN=localhost\" and .issuerName == \"CN=kmc test CA 2\" and .expires == $ms" "$O"
	check "... certificatePem is server $n's new certificate" \
		pem_is "$O" "$leaf.certificatePem" "$NEW/s$n.crt"
	check "... trustStore peers, whose only alias is new-ca" \
		jq -e "$leaf.trustStore == \"peers\" and $aliases == [\"new-ca\"]" "$O"
	check "... nothing staged now, the old version kept as the previous" \
		jq -e "$leaf | .staged == false and .previous == true" "$O"
	t "... expiry polling: nothing due within 7 days" kv "$n" cert check --within 7
	t_rc 11 "... within 30 days the new certificate is due" kv "$n" cert check --within 30
	keep
	check "... the line names server/cert" grep -q '^server/cert: certificate CN=localhost expires' "$O"
done

for n in "${SERVERS[@]}"; do
	t "SIGTERM stops server $n: exit 0" stop_server "$(pid_of "srv$n")"
done

done_testing
