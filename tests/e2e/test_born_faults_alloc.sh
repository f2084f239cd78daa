#!/usr/bin/env bash
# test_born_faults_alloc.sh - kmc cert set with allocations of kmc's own
# code failing, sampled (born_faults.sh); under make check-full
# (KMC_ALLOC_STRIDE set) each of them, then every allocation, OpenSSL's
# and libc's included, sampled.
. "$(dirname "${BASH_SOURCE[0]}")/born_faults.sh"

OWN_ALLOC_STRIDE=30

# OpenSSL 3.0 builds its default library context on its first call; an
# allocation failing there left it half made, and kmc csr and cert set,
# whose first OpenSSL call was a decoder, crashed on a lock it never made
# (kmc_crypto_init() now builds it first). Each of the first allocations
# of kmc csr failing, those of that start among them: no crash, a
# "kmc: " line (KMC_FAULT_OSSL_INIT: the shim counts the allocations of
# that start, which other sweeps leave out). csr writes nothing, so no
# repair is needed between runs.
# Under make check-sanitize (some 0.2 CPU-s a run) one in 5 of them.
OPENSSL_START=150
EARLY_STRIDE=1
[ -z "${KMC_SANITIZED:-}" ] || EARLY_STRIDE=5
csr_each_early_alloc() {
	local n bad=0
	load born
	for ((n = 1; n <= OPENSSL_START; n += EARLY_STRIDE)); do
		KMC_FAULT_OSSL_INIT=1 FAULT_OPS=alloc faulty "$n" 0 csr server --subject /CN=x
		if [ "$rc" -ge 128 ] || { [ "$rc" != 0 ] && ! says_kmc 2>/dev/null; }; then
			echo "allocation $n failing: exit $rc: $(cat "$RUN_ERR")" >&2
			bad=1
		fi
	done
	[ "$bad" = 0 ]
}
check "kmc csr, each of its first $OPENSSL_START allocations failing (OpenSSL's start among them): no crash" \
	csr_each_early_alloc
own_alloc_sweep "cert set" born "${CERTSET[@]}"
[ -z "${KMC_ALLOC_STRIDE:-}" ] || alloc_sweep "cert set" born "${CERTSET[@]}"

done_testing
