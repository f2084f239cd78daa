#!/usr/bin/env bash
# test_promote_faults_alloc.sh - kmc promote, kmc promote --previous and
# kmc cert renew with allocations of kmc's own code failing, sampled;
# then kmc promote with all allocations, OpenSSL's and libc's included,
# sampled (promote_faults.sh). Those of kmc import --stage are in
# test_promote_faults_stage.sh.
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "promote" staged "${PROMOTE[@]}"
own_alloc_sweep "promote --previous" promoted "${PREVIOUS[@]}"
own_alloc_sweep "cert renew" imported "${RENEW[@]}"
alloc_sweep "promote" staged "${PROMOTE[@]}"

done_testing
