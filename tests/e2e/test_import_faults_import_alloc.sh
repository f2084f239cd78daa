#!/usr/bin/env bash
# test_import_faults_import_alloc.sh - kmc import into a fresh vault,
# its allocations, OpenSSL's and libc's included, sampled, failing (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"
# An allocation failure is never the key's, its password's nor the
# certificates': not exit 2, 3 or 9.
BLAME_CHECK=1

alloc_sweep "import into a fresh vault" fresh "${IMPORT[@]}"

done_testing
