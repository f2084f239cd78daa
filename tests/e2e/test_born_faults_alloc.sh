#!/usr/bin/env bash
# test_born_faults_alloc.sh - kmc cert set with allocations of kmc's own
# code failing, sampled (born_faults.sh); under make check-full
# (KMC_ALLOC_STRIDE set) each of them, then every allocation, OpenSSL's
# and libc's included, sampled.
. "$(dirname "${BASH_SOURCE[0]}")/born_faults.sh"

OWN_ALLOC_STRIDE=15
own_alloc_sweep "cert set" born "${CERTSET[@]}"
[ -z "${KMC_ALLOC_STRIDE:-}" ] || alloc_sweep "cert set" born "${CERTSET[@]}"

done_testing
