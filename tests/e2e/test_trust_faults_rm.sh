#!/usr/bin/env bash
# test_trust_faults_rm.sh - kmc trust rm of the first CA from a store of
# two kept in sync in two files, which a bundle trusts: each step
# failing, killed at each step, allocations failing (trust_faults.sh).
# The store then trusts both CAs or the second alone, as do both files.
. "$(dirname "${BASH_SOURCE[0]}")/trust_faults.sh"

sweep "trust rm ca1" bound trust rm ca1 --store clients

done_testing
