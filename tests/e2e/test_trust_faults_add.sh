#!/usr/bin/env bash
# test_trust_faults_add.sh - kmc trust add of a second CA to a store kept
# in sync in two files: each step failing, killed at each step,
# allocations failing (trust_faults.sh). The store then trusts the first
# CA alone or both, and each file holds the PEM of the one or the other,
# its mode, owner and group kept.
. "$(dirname "${BASH_SOURCE[0]}")/trust_faults.sh"

sweep "trust add ca2" one trust add ca2 "$P2/ca.crt" --store clients

done_testing
