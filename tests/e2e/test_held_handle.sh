#!/usr/bin/env bash
# test_held_handle.sh - a vault handle a server holds while the vault
# changes under it (tests/e2e/held_handle.c).
#
# A restore renames another item store over the one a held handle
# opened; the handle read the replaced file, whose generation never moved
# again, so a server polling kmc_vault_generation() (examples/tls_server)
# served the material of before the restore until restarted. The poll now
# fails with KMC_E_STORE, whose detail says to open the vault again.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HH=$T/held_handle
check "the held_handle helper builds" kmc_cc "$HH" "$KMC_TOP/tests/e2e/held_handle.c"

V=$T/v
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
t "a vault" kmc init
secret_file "$T/one" one
secret_file "$T/two" two
t "password pw one" kmc password set pw --password-file "$T/one"
t "a backup" kmc backup --out "$T/bk"
t "password pw two" kmc password set pw --password-file "$T/two"

t_out "a held handle's generation poll tells of a restore; a new handle reads it" \
	ok "$HH" restore "$V" one "'$KMC' --vault '$V' restore '$T/bk' </dev/null >/dev/null"
t_out "the restored pw" one kmc password get pw

done_testing
