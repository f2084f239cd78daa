#!/usr/bin/env bash
# test_rm_faults.sh - kmc rm of a bundle published to a keys folder and a
# config file (db: issued by the vault's CA with --server --conf, which
# makes the bundle an import makes: NAME, NAME/key, cert, ca, meta, the
# keys folder keys/db, the config entries): each step failing, killed at
# each step, allocations failing (ca_faults.sh, sweeplib.sh). rm removes
# the items in one store transaction and leaves the keys folder and the
# config file as they are (docs/cli.md, rm), so after each broken run
# (and kmc repair) the bundle is there whole or gone whole, the files
# untouched either way. (rm of a bundle whose key is on a token:
# token_rotation_faults.sh; trust rm: test_trust_faults_rm.sh.)
. "$(dirname "${BASH_SOURCE[0]}")/ca_faults.sh"

# The files are no part of the change: the new state's are the old's.
files_of() { printf '%s' "${1#*== keys}"; }
scenario_more() {
	check "$WHAT: the keys folder and app.conf are as they were" \
		test "$(files_of "$OLD_FP")" = "$(files_of "$NEW_FP")"
}
sweep "rm db" issued rm db

done_testing
