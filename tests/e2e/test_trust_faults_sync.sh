#!/usr/bin/env bash
# test_trust_faults_sync.sh - kmc trust sync of a third file (0600, its
# own text) into a store that keeps two: each step failing, killed at
# each step, allocations failing (trust_faults.sh). The store then keeps
# two files and the third holds its own text, or three and the third
# holds the store's PEM, its mode kept; the other two never change. Then
# the steps of trust sync --stop of a kept file, which writes no file:
# the store keeps it or not.
. "$(dirname "${BASH_SOURCE[0]}")/trust_faults.sh"

sweep "trust sync ca-three.pem" two trust sync clients --file "$F3"
sweep_short "trust sync --stop ca-two.pem" two trust sync clients --file "$F2" --stop

done_testing
