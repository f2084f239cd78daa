#!/usr/bin/env bash
# test_faults_init_existing.sh - kmc init with a host key made beforehand,
# which must stay untouched: each step failing, killed at each step, each
# allocation failing (faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

"$KMC" --vault "$T/keymaker" init 2>/dev/null
cp -p "$KMC_HOST_KEY" "$T/host.key.kept"
init_faults existing
init_kills existing "$init_steps"
init_allocs existing

done_testing
