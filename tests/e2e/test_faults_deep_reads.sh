#!/usr/bin/env bash
# test_faults_deep_reads.sh - the vault's own certificates and keys read
# while memory runs out inside OpenSSL: kmc ca crl (the CA's certificate
# and key read and checked, a CRL signed), kmc ca list (the certificate
# alone), kmc export (a bundle's key, certificate and CA) and kmc trust
# crl (a CRL file checked against a trusted CA). The
# allocation sweeps of the other fault suites fail kmc's own allocations
# (KMC_FAULT_NEAR=4) and reach OpenSSL's only through a few samples; here
# each allocation with kmc's code up to DEEP (8) calls above it fails,
# which reaches inside OpenSSL's PEM reader, its decoders, its time and
# extension checks and its signing. The vault is intact throughout: an
# allocation failing is never reported as damage (exit 4, "damaged"), as
# a CA certificate or key at fault (exit 9) or as a bad argument (exit
# 2); the command fails with "kmc: ..." (or succeeds) and no crash.
#
# make check samples one allocation in a stride past those of opening
# the vault (each stride no wider than a run of allocations whose failure
# kmc once blamed on the vault, so that one is hit); make check-full
# (KMC_ALLOC_STRIDE=1) tries each.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sweeplib.sh"

DEEP=8
NEAR=$DEEP	# open_allocs (sweeplib.sh) counts at this depth
BLAME_RE='damaged|not a (CA )?certificate|not a PKCS#8|holds [0-9]+ certificates|not valid yet|has expired|RFC 5280 allows|does not read as a date|is older than|is not the key of|no subject key identifier|signing the CRL|not a CRL|out of date'

t "kmc init" look init
t "ca init root" look ca init root --subject "/CN=Deep Root CA"
t "cert issue db --server" look cert issue db --ca root --server --subject /CN=db.example
t "ca crl root: a CRL to give the trust store" look ca crl root --out "$T/root.crl"
t "trust add root --store clients" look trust add root "$V/keys/db/ca.crt" --store clients
cp -a "$V" "$T/saved" && state_save "$V" "$T/saved.state"
load() { rm -rf "$V" "$T"/out.* && cp -a "$T/saved" "$V" && state_load "$V" "$T/saved.state"; }
FROM=saved

load
check "the vault is intact: kmc status says healthy" look status
check "the vault is intact: kmc ca crl signs a CRL the CA verifies" \
	look ca crl root --out "$T/out.crl"
check "the CRL verifies under the CA" \
	bash -c "openssl crl -in '$T/out.crl' -noout -CAfile '$V/keys/db/ca.crt' 2>&1 | grep -q 'verify OK'"

ALL_FAILS=0
not_exit_4() { [ "$rc" != 4 ] || { echo "exit 4: $(cat "$RUN_ERR")" >&2; false; }; }

# deep_sweep WHAT STRIDE ARGS...: kmc ARGS with its allocations DEEP
# deep failing, one in STRIDE (KMC_ALLOC_STRIDE) past the open's.
deep_sweep() {
	local what=$1 k=${KMC_ALLOC_STRIDE:-$2} n total fails=0 runs=0 t0=$SECONDS
	shift 2
	CMD=("$@")
	load
	FAULT_OPS=alloc FAULT_NEAR=$DEEP faulty 0 0
	check "$what: succeeds under the shim with nothing failing" test "$rc" = 0
	total=$steps
	check "$what: the shim counted its allocations $DEEP deep" test "$total" -gt 50
	open_allocs
	for ((n = OPEN_ALLOCS + 1; n <= total; n += k)); do
		AT="$what, allocation $n of $total ($DEEP deep) failing"
		load
		FAULT_OPS=alloc FAULT_NEAR=$DEEP faulty "$n" 0
		runs=$((runs + 1))
		[ "$rc" != 0 ] || continue
		fails=$((fails + 1))
		check "$AT: exits non-zero without a crash" no_crash
		check "$AT: a message starting 'kmc: ', no memory error report" says_kmc
		check "$AT: not exit 4 (the vault is not damaged)" not_exit_4
		check "$AT: the message blames neither the vault nor the arguments" not_blamed
	done
	ALL_FAILS=$((ALL_FAILS + fails))
	echo "# $what: $total allocations $DEEP deep, $OPEN_ALLOCS of them the open's;" \
		"ran $runs (1 in $k past the open): $fails failed; $((SECONDS - t0)) s"
}

# Strides: each no wider than a run of allocations (OpenSSL 3.0) whose
# failure kmc blamed on the vault before: ca crl's CA key read (13 long),
# export's key read (11); ca list's is short, so is its stride.
deep_sweep "ca crl root" 13 ca crl root --out "$T/out.crl"
deep_sweep "ca list root" 5 ca list root
deep_sweep "export db --format pkcs8-der" 11 export db --format pkcs8-der \
	--no-password --out "$T/out.der"
# A CRL the operator gives: its issuer, signature and dates checked
# against the alias's CA before it is kept.
deep_sweep "trust crl root" 7 trust crl root "$T/root.crl" --store clients
# Most allocations that fail deep inside OpenSSL are ones it does
# without, or that kmc now tries again past (a key's decoding): some
# must still fail a command, or the shim was not failing any.
check "the shim is active: some allocations failing failed a command" test "$ALL_FAILS" -gt 0

done_testing
