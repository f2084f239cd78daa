#!/usr/bin/env bash
# test_trust_faults_crl.sh - kmc trust crl, the first CA's CRL given to
# its alias in a store of two kept in sync in two files: each step
# failing, killed at steps, allocations failing (trust_faults.sh). The
# alias then has the CRL or not, as the message said, and the sync
# files (certificates only) never change. Then trust add --replace
# --crl of the same CA, kmc's own allocations failing: the alias with
# its CRL, or as it was.
. "$(dirname "${BASH_SOURCE[0]}")/trust_faults.sh"

sweep "trust crl ca1" two trust crl ca1 "$P1/ca.crl" --store clients
alloc_own "trust add ca1 --replace --crl" two trust add ca1 "$P1/ca.crt" --replace \
	--crl "$P1/ca.crl" --store clients

done_testing
