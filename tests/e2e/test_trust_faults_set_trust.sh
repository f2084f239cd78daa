#!/usr/bin/env bash
# test_trust_faults_set_trust.sh - kmc cert set-trust server clients:
# each step failing, killed at each step, allocations failing; then the
# steps of cert set-trust server --none (trust_faults.sh). The bundle
# then trusts the store or not, as the message said, and the store and
# its files never change.
. "$(dirname "${BASH_SOURCE[0]}")/trust_faults.sh"

VIEW_BUNDLE=1

sweep "cert set-trust server clients" two cert set-trust server clients
sweep_short "cert set-trust server --none" bound cert set-trust server --none

done_testing
