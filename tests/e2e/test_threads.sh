#!/usr/bin/env bash
# test_threads.sh - one process, many handles: what kmc(3) allows.
#
# Threads (tests/e2e/threads.c): four readers, each with a handle of its
# own, read a password, load a bundle's key (kmc_key_load) and set up an
# SSL_CTX (kmc_ssl_ctx_use) while two writer threads, each opening its
# own handle for writing, put the password and items of their own; on a
# host vault with the key in the vault, and on a vault whose protector
# and bundle key are on a SoftHSM2 token. No reader fails (a bundle's
# items are read in one snapshot: kmc_ssl_ctx_use no longer answers
# KMC_E_BUSY when the writers commit during each of 8 tries) or sees an
# older password after a newer one, no writer fails, and kmc verify is
# clean after.
#
# Two copies of the vault code (tests/e2e/two_copies.c): a process that
# has a vault open through libkmcvault and loads a key through the kmc
# provider must keep LMDB's lock on items.mdb-lock. The provider opened
# the vault with its own copy (kmc/vault.so), a second LMDB environment
# on the same file, whose close dropped the process's locks: another
# process then took itself for LMDB's first user and reset the reader
# table under the server's readers. The library now offers kmc.so its
# own code, and a second copy's open is refused, naming why.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

THREADS=$T/threads
TWO=$T/two_copies
check "the threads helper builds" kmc_cc "$THREADS" "$KMC_TOP/tests/e2e/threads.c"
check "the two_copies helper builds" kmc_cc "$TWO" "$KMC_TOP/tests/e2e/two_copies.c" \
	-I"$KMC_TOP/vault" -ldl
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/p"
printf 'pw-0' >"$T/pw0"
chmod 600 "$T/pw0"

# vault_with DIR KMC-ARGS...: a vault with bundle srv and password pw-0.
vault_with() {
	local d=$1
	shift
	"$KMC" --vault "$d" init "$@" </dev/null >/dev/null 2>&1 &&
		"$KMC" --vault "$d" import -c "$T/p/ca.crt" -s "$T/p/server.crt" \
			-k "$T/p/server.plain.key" --name srv </dev/null >/dev/null 2>&1 &&
		"$KMC" --vault "$d" password set pw --password-file "$T/pw0" >/dev/null 2>&1
}

# threads_ok DIR BUNDLE WHAT: the threads helper, 30 rounds, two writers.
threads_ok() {
	local out=$T/threads.out
	"$THREADS" "$1" "$2" 30 2 >"$out" 2>&1
	check "$3: every read and write succeeded: $(tail -1 "$out")" \
		bash -c 'tail -1 "$1" | grep -q "^reads 120 " && [ "$(wc -l <"$1")" = 1 ] || cat "$1" >&2' \
		_ "$out"
	t "$3: kmc verify is clean afterwards" "$KMC" --vault "$1" verify
}

check "a host vault with a bundle" vault_with "$T/hv"
threads_ok "$T/hv" srv "host vault, threads"

MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null; then
	echo "# skip: SoftHSM2 ($MOD, softhsm2-util) is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi
. "$KMC_TOP/tools/softhsm-token.sh"
softhsm_token "$T/hsm" thr so-thr 4711 >/dev/null || exit 1
secret_file "$T/pin" 4711
export OPENSSL_MODULES=$KMC_BUILD/provider
TV=$T/tv
U="pkcs11:token=thr;object=vk?module-path=$MOD&pin-source=$T/pin"
check "a vault protected by a token" vault_with "$TV" --protector pkcs11 \
	--pkcs11-uri "$U" --create-key
t "a bundle whose key is on the token" "$KMC" --vault "$TV" import -c "$T/p/ca.crt" \
	-s "$T/p/server.crt" -k "$T/p/server.plain.key" --name tok \
	--on-token "pkcs11:token=thr?module-path=$MOD&pin-source=$T/pin"
threads_ok "$TV" srv "token vault, a key in the vault, threads"
threads_ok "$TV" tok "token vault, a key on the token, threads"

# two MODE NAME: the two_copies helper's facts, in $T/two.out.
two() { "$TWO" "$1" "$TV" "$2" >"$T/two.out" 2>&1; }
has() { grep -qxF -- "$1" "$T/two.out" || { cat "$T/two.out" >&2; false; }; }

check "kmc_key_load of a token key beside an open handle" two token tok
check "... loads it" has "load ok"
check "... the process keeps its lock on items.mdb-lock" has "locks after 2"
check "... the provider used this library's code, not kmc/vault.so" has "vault.so mapped no"
check "... and the handle still reads" has "read ok"

check "kmc.so loaded first (openssl.cnf), then a kmc: URI beside an open handle" two conf srv
check "... loads it" has "load ok"
check "... the process keeps its lock" has "locks after 2"
check "... without kmc/vault.so" has "vault.so mapped no"

check "a kmc: URI loaded before the library opened the vault, then again" two late srv
check "... loads it" has "load ok"
check "... the process keeps its lock" has "locks after 2"

check "kmc/vault.so's own copy asked to open the vault the library has open" two copy srv
check "... is refused, naming the file and why" \
	grep -q "^second copy open failed: $TV/items.mdb is open in this process already, through another copy of kmcvault's code" "$T/two.out"
check "... the process keeps its lock" has "locks after 2"
check "... and the handle still reads" has "read ok"

done_testing
