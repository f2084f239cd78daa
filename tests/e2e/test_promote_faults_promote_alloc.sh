#!/usr/bin/env bash
# test_promote_faults_promote_alloc.sh - kmc promote of a staged version:
# each allocation of kmc's own code failing in turn, then all allocations,
# OpenSSL's and libc's included, each sampled (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "promote" staged "${PROMOTE[@]}"
alloc_sweep "promote" staged "${PROMOTE[@]}"

done_testing
