#!/usr/bin/env bash
# test_tls_reload_race.sh - a server reloading while its bundle rotates:
# kmc_ssl_ctx_use() in a loop (ctx_reload.c, one handle, as
# examples/tls_server keeps) beside kmc import --replace of the bundle,
# alternating between two key pairs, 100 times; then kmc_export() of a
# PKCS#12 keystore in a loop (a Java server's keystore made from the
# vault) beside the same.
#
# kmc_ssl_ctx_use reads the certificate, the CA, the CRL and the key each
# in a read of its own: a replace committed between two of them paired
# one version's certificate with the next one's key, and OpenSSL refused
# the pair ("key values mismatch"): about one load in fifty, a reload
# failed by every other replace; kmc_export refused the same way ("its
# certificate is not the key's"). Every load must now succeed, each with
# a certificate and key of one version.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
RELOAD=$T/ctx_reload
STOP=$T/stop

check "the ctx_reload helper builds" kmc_cc "$RELOAD" "$KMC_TOP/tests/e2e/ctx_reload.c"
check "mkpki.sh makes a first PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/p1"
check "mkpki.sh makes a second PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/p2"
t "kmc init" kmc init
t "import srv (the first PKI)" kmc import -c "$T/p1/ca.crt" -s "$T/p1/server.crt" \
	-k "$T/p1/server.plain.key" --name srv

# race WHAT [export]: the loop beside 100 replaces; every load succeeds.
race() {
	local what=$1 fails=0 rc i p
	shift
	rm -f "$STOP"
	"$RELOAD" "$V" srv "$STOP" "$@" >"$T/reload.out" 2>&1 &
	RPID=$!
	for ((i = 0; i < 100; i++)); do
		p=$((i % 2 + 1))
		kmc import -c "$T/p$p/ca.crt" -s "$T/p$p/server.crt" \
			-k "$T/p$p/server.plain.key" --name srv --replace \
			>"$T/import.out" 2>&1 || fails=$((fails + 1))
	done
	touch "$STOP"
	wait "$RPID"
	rc=$?
	check "$what: 100 imports --replace beside them, all done" test "$fails" = 0
	check "$what: every one succeeded: $(head -1 "$T/reload.out")" \
		bash -c '[ "$1" = 0 ] || { cat "$2" >&2; false; }' _ "$rc" "$T/reload.out"
	check "$what: ... looping while the bundle changed (more loads than replaces)" \
		bash -c 'read -r _ n _ <"$1" && [ "$n" -gt 100 ]' _ "$T/reload.out"
}

race "kmc_ssl_ctx_use in a loop"
race "kmc_export of a PKCS#12 keystore in a loop" export

done_testing
