#!/usr/bin/env bash
# test_ca_faults_init.sh - kmc ca init and kmc ca revoke, each a change
# of the item store alone: each step failing, killed at each step, kmc's
# own allocations failing (ca_faults.sh). The vault then holds the new
# CA whole (key, certificate, record) or nothing of it; the revocation
# is noted or not. (Revoke's allocations, reading and writing the CA's
# record, are those test_ca_faults_issue.sh and _crl.sh sweep.)
. "$(dirname "${BASH_SOURCE[0]}")/ca_faults.sh"

sweep_short "ca init second" issued ca init second --subject "/CN=Second CA" --type p384
alloc_sweep "$NEAR"
sweep_short "ca revoke root db" issued ca revoke root db --reason superseded

done_testing
