#!/usr/bin/env bash
# test_ca_faults_issue.sh - kmc cert issue of a server bundle with a
# config file, from the vault's CA: each step failing, killed at each
# step, allocations failing (ca_faults.sh). The vault then holds the new
# bundle, its keys folder, its config entries and the CA's note of its
# serial, all of them, or none.
. "$(dirname "${BASH_SOURCE[0]}")/ca_faults.sh"

MIX='rm -rf "$V/keys/db2"'
sweep "cert issue db2" issued cert issue db2 --ca root --server \
	--subject /CN=db2.example --conf "$CONF"

done_testing
