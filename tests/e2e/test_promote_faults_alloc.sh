#!/usr/bin/env bash
# test_promote_faults_alloc.sh - kmc promote, kmc promote --previous and
# kmc cert renew with allocations of kmc's own code failing, sampled
# (promote_faults.sh); under make check-full (KMC_ALLOC_STRIDE set), then
# kmc promote with each allocation, OpenSSL's and libc's included,
# failing. In make check the import's suites sample those, in the same
# decoders and checks (test_import_faults_*_alloc.sh): a sample of three
# here would cost more than it tells. Those of kmc import --stage are in
# test_promote_faults_stage.sh.
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "promote" staged "${PROMOTE[@]}"
own_alloc_sweep "promote --previous" promoted "${PREVIOUS[@]}"
own_alloc_sweep "cert renew" imported "${RENEW[@]}"
[ -z "${KMC_ALLOC_STRIDE:-}" ] || alloc_sweep "promote" staged "${PROMOTE[@]}"

done_testing
