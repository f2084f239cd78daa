#!/usr/bin/env bash
# test_promote_faults_renew.sh - kmc cert renew with a new CRL: each file-system step failing,
# then killed at each step (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

step_sweep "cert renew" imported "${RENEW[@]}"

done_testing
