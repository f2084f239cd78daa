#!/usr/bin/env bash
# test_promote_faults_renew_alloc.sh - kmc cert renew with a new CRL: each
# allocation of kmc's own code failing in turn, then all allocations,
# OpenSSL's and libc's included, each sampled (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "cert renew" imported "${RENEW[@]}"
alloc_sweep "cert renew" imported "${RENEW[@]}"

done_testing
