#!/usr/bin/env bash
# test_trust_tls.sh - a running examples/tls_server (kmc_ssl_ctx_use) and
# a trust store: while the store trusts a second CA, the server greets
# clients of its own CA and of the second one; after kmc trust rm, the
# same process (reloaded on the generation change, not restarted) greets
# only its own CA's. The bundle has a CRL of its own CA, which must not
# turn away clients of the trusted CA for having none.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
P1=$T/pki1
P2=$T/pki2
P3=$T/pki3
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'stop_all; rm -rf "$T"' EXIT

"$KMC_TOP/tools/mkpki.sh" "$P1" >/dev/null
MKPKI_CA_CN="second CA" "$KMC_TOP/tools/mkpki.sh" "$P2" >/dev/null
MKPKI_CA_CN="third CA" "$KMC_TOP/tools/mkpki.sh" "$P3" >/dev/null

# greeted PKI: a client with PKI's client certificate is greeted.
greeted() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-CAfile "$P1/ca.crt" -verify_return_error -ign_eof \
		-cert "$1/client.crt" -key "$1/client.key" </dev/null 2>/dev/null |
		grep -qx 'hello kmc test client'
}
refused() { ! greeted "$1"; }
reloads() { grep -c 'reloaded: generation' "$SLOG"; }
# wait_reload N: until the server has reloaded more than N times, the
# last at the vault's generation now (tls_servers.sh).
wait_reload() {
	local i
	for i in $(seq 300); do
		[ "$(reloads)" -gt "$1" ] && break
		kill -0 "$SPID" 2>/dev/null || return 1
		sleep 0.1
	done
	[ "$(reloads)" -gt "$1" ] && await_reload_at "$V" "$SPID"
}

t "init a vault" kmc init
t "trust store clients trusts the second CA" \
	kmc trust add second "$P2/ca.crt" --store clients
t "import the server's bundle with its CA's CRL, naming the store" \
	kmc import -c "$P1/ca.crt" -s "$P1/server.crt" -k "$P1/server.plain.key" \
	-r "$P1/ca.crl" --trust clients
t "the server starts" start_tls_server srv --vault "$V" --port 0
PID0=$SPID

check "a client of the server's own CA is greeted" greeted "$P1"
check "a client of the trusted second CA is greeted" greeted "$P2"
check "a client of a third CA is refused" refused "$P3"

# The NuoDB rotation's middle: the new CA joins, the server reloads.
n=$(reloads)
t "trust add third" kmc trust add third "$P3/ca.crt" --store clients
t "the server reloads on the generation change" wait_reload "$n"
check "now a client of the third CA is greeted" greeted "$P3"
check "and the second CA's still" greeted "$P2"

n=$(reloads)
t "trust rm second" kmc trust rm second --store clients
t "the server reloads" wait_reload "$n"
check "a client of the removed CA is refused" refused "$P2"
check "the third CA's is still greeted" greeted "$P3"
check "the server's own CA's is still greeted" greeted "$P1"

n=$(reloads)
t "cert set-trust --none" kmc cert set-trust server --none
t "the server reloads" wait_reload "$n"
check "only the server's own CA's clients are greeted now" refused "$P3"
check "its own CA's still are" greeted "$P1"

# A revoked client of the server's own CA stays refused, store or not.
n=$(reloads)
t "set-trust clients again" kmc cert set-trust server clients
t "the server reloads" wait_reload "$n"
t "revoke the server CA's client" "$P1/crl.sh" "$P1/client.crt"
n=$(reloads)
t "crl update" kmc crl update server -r "$P1/ca.crl"
t "the server reloads" wait_reload "$n"
check "the revoked client is refused" refused "$P1"
check "the trusted CA's client is greeted, with no CRL of its own" \
	greeted "$P3"
check "the same process served it all" kill -0 "$PID0"

# Revocation of a store CA's clients: a CRL given to its alias. Without
# one, a CA that moves from being the bundle's (CRL checked) to being a
# store's (as in a CA rotation) would let its revoked clients back in.
t "revoke the third CA's client" "$P3/crl.sh" "$P3/client.crt"
check "with no CRL for it, the revoked client of the third CA is greeted" \
	greeted "$P3"
n=$(reloads)
t "trust crl third" kmc trust crl third "$P3/ca.crl" --store clients
t "the server reloads" wait_reload "$n"
check "now it is refused" refused "$P3"
check "the server logged that it is revoked" \
	grep -q 'certificate revoked' "$SLOG"
n=$(reloads)
t "readd the second CA with its CRL (trust add --crl)" \
	kmc trust add second "$P2/ca.crt" --crl "$P2/ca.crl" --store clients
t "the server reloads" wait_reload "$n"
check "the second CA's client, not revoked, is greeted" greeted "$P2"
check "the revoked server CA's client still refused" refused "$P1"

# A bundle without a CRL of its own, naming a store with one: its own
# CA's clients are not refused for lacking a CRL.
t "import a second bundle, no CRL, naming the store" \
	kmc import -c "$P1/ca.crt" -s "$P1/server.crt" -k "$P1/server.plain.key" \
	--name nocrl --trust clients
SAVE_PORT=$PORT SAVE_SPID=$SPID SAVE_SLOG=$SLOG
t "a server of it starts" start_tls_server srv2 --vault "$V" --name nocrl --port 0
check "its own CA's client (revoked in a CRL it does not hold) is greeted" \
	greeted "$P1"
check "the store CA's revoked client is refused" refused "$P3"
check "the store CA's other client is greeted" greeted "$P2"
PORT=$SAVE_PORT SPID=$SAVE_SPID SLOG=$SAVE_SLOG

# A store removed from under a bundle that names it: the reload fails
# and says why, and the server goes on with what it had.
n=$(grep -c 'reload.*failed' "$SLOG")
t "kmc rm trust:clients" kmc rm trust:clients
for i in $(seq 300); do
	[ "$(grep -c 'reload.*failed' "$SLOG")" -gt "$n" ] && break
	sleep 0.1
done
check "the server logs that the store is gone" \
	grep -q 'trust store clients, which the vault no longer holds' "$SLOG"
check "and still serves its own CA's clients... refused, revoked" refused "$P1"
check "and the trusted CA's, as before" greeted "$P2"

done_testing
