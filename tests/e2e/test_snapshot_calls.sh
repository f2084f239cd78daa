#!/usr/bin/env bash
# test_snapshot_calls.sh - kmc_vault_snapshot() and its end where a
# careless program calls them (tests/e2e/snapshot_calls.c).
#
# kmc_item_list() walks the items in the snapshot's transaction when one
# is held; a callback that ended the snapshot freed that transaction
# under the walk's cursor and the program crashed. The end now waits for
# the list to return.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SC=$T/snapshot_calls
check "the snapshot_calls helper builds" kmc_cc "$SC" "$KMC_TOP/tests/e2e/snapshot_calls.c"

V=$T/v
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
t "a vault" kmc init
secret_file "$T/pw" old
t "password pw" kmc password set pw --password-file "$T/pw"
t "password other" kmc password set other --password-file "$T/pw"

t_out "a snapshot ended in a kmc_item_list callback lasts until the list returns" \
	ok "$SC" end-in-list "$V"

done_testing
