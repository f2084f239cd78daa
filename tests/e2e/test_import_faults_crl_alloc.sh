#!/usr/bin/env bash
# test_import_faults_crl_alloc.sh - kmc crl update, its allocations,
# OpenSSL's and libc's included, sampled, failing (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

alloc_sweep "crl update" imported "${CRL[@]}"

done_testing
