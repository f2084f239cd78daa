#!/usr/bin/env bash
# test_faults_init_new.sh - kmc init making its host key, with each step
# failing, killed at each step, each allocation failing (faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

init_faults new
init_kills new "$init_steps"
init_allocs new

done_testing
