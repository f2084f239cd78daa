#!/usr/bin/env bash
# test_promote_faults_previous_alloc.sh - kmc promote --previous after a
# promote: each allocation of kmc's own code failing in turn, sampled
# (promote_faults.sh). OpenSSL's and libc's inside it are a promote's
# (test_promote_faults_promote_alloc.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "promote --previous" promoted "${PREVIOUS[@]}"

done_testing
