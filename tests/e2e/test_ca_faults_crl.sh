#!/usr/bin/env bash
# test_ca_faults_crl.sh - kmc ca crl, after a revocation: each step
# failing, killed at each step, allocations failing (ca_faults.sh). The
# CA then has given its first CRL number and the file holds it, or
# neither.
. "$(dirname "${BASH_SOURCE[0]}")/ca_faults.sh"

t "ca revoke root app (for the state below)" look ca revoke root app
save revoked
MIX='rm -f "$OUTCRL"'
sweep "ca crl root" revoked ca crl root --out "$OUTCRL"

done_testing
