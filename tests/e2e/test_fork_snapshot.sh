#!/usr/bin/env bash
# test_fork_snapshot.sh - a snapshot held on one side of fork() while the
# other side closes a handle and commits (tests/e2e/fork_snapshot.c).
#
# Handles of one process share the item store's LMDB environment, and a
# child after fork() inherited it: the child's close of the handle it
# inherited released the parent's snapshot, and a handle the child opened
# itself lived on reader slots carrying the parent's pid, released by the
# parent's close. Either way the next commits reused the snapshot's pages
# and it read a value it never held, or none. A child now opens an
# environment of its own and leaves the inherited one alone.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FS=$T/fork_snapshot
check "the fork_snapshot helper builds" kmc_cc "$FS" "$KMC_TOP/tests/e2e/fork_snapshot.c"

V=$T/v
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
t "a vault" kmc init
secret_file "$T/pw" before
t "password pw" kmc password set pw --password-file "$T/pw"

t_out "a parent's snapshot holds while its child closes the inherited handle and commits" \
	ok "$FS" parent "$V"
t_out "a child's snapshot holds while its parent closes its handle and commits" \
	ok "$FS" child "$V"
t "kmc verify is clean afterwards" kmc verify
t_out "pw is the last value committed" parent-99 kmc password get pw

done_testing
