#!/usr/bin/env bash
# test_fsize.sh - a server that changes its vault under a file size limit
# (RLIMIT_FSIZE, `ulimit -f`). A write past the limit raises SIGXFSZ,
# whose default kills the process; the kmc command ignores the signal,
# but a server keeps its own handling, which the library must not change.
# So each of the library's writes must fail with a message naming the
# limit, and change nothing: LMDB's commit (the signal held back around
# it) and a backup's copy of the store (LMDB's thread). The library's
# own writes check the limit first (test_fileio); the build before was
# killed here (exit 153).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
t "a vault" "$KMC" --vault "$V" init
secret_file "$T/pw" 'hunter2'
t "... with a password" "$KMC" --vault "$V" password set db --password-file "$T/pw"
check "fsize_server builds (a server changing its vault, SIGXFSZ at its default)" \
	kmc_cc "$T/srv" "$KMC_TOP/tests/e2e/fsize_server.c"

# under_limit BYTES CMD...: CMD under a file size limit of BYTES (rounded
# down to ulimit's 1 KiB blocks). Its messages go through a pipe to a
# reader outside the limit: written to the test's own file, they would
# pass the limit themselves.
under_limit() {
	local blocks=$(($1 / 1024)) rc
	shift
	{
		bash -c 'ulimit -f "$1" && shift && exec "$@"' _ "$blocks" "$@" \
			2>&1 >&3 3>&- | cat >&2
		rc=${PIPESTATUS[0]}
	} 3>&1
	return "$rc"
}
# The store and the keystores (a failed change is still recorded in
# audit.log, and kmc.bind follows the log's head).
store_sums() { (cd "$V" && sha256sum items.mdb kmc.ks StandbyKsf.ks); }

head -c 300000 /dev/urandom >"$T/big"
size=$(stat -c %s "$V/items.mdb")
before=$(store_sums)
t_err 1 "a put that grows items.mdb past the limit fails naming it (not SIGXFSZ)" \
	"writing $V/items.mdb: it would pass this process's file size limit of [0-9]+ bytes" \
	under_limit "$size" "$T/srv" "$V" put big "$T/big"
check "... and the store and keystores are as they were" [ "$before" = "$(store_sums)" ]
t_out "... which opens and holds what it held" 'hunter2' "$KMC" --vault "$V" password get db
t "... and the same put without the limit is stored" "$T/srv" "$V" put big "$T/big"

# A backup's copy of items.mdb is written by a thread LMDB starts.
t_err 1 "a backup whose copy of items.mdb passes the limit fails, not SIGXFSZ" \
	"File too large: it would pass this process's file size limit of 65536 bytes" under_limit 65536 "$T/srv" "$V" backup "$T/bk"
check "... and leaves no backup" [ ! -e "$T/bk" ]
check "... nor its hidden sibling" sh -c "! ls -A '$T' | grep -q '^\.bk\.backup-'"
t "... and without the limit it is made" "$T/srv" "$V" backup "$T/bk"

# A new vault: LMDB sizes its lock file (8 KiB, ftruncate) and writes the
# store's first pages (16 KiB) when the environment opens, outside any
# commit; the build before was killed there too.
for lim in 4096 12288; do
	t_err 1 "a server's init under a limit of $lim bytes fails naming it (not SIGXFSZ)" \
		"creating the vault $T/nv: it would pass this process's file size limit of $lim bytes" \
		under_limit "$lim" "$T/srv" "$T/nv" init
	check "... and leaves no vault nor its hidden sibling" sh -c "! ls -A '$T' | grep -q '^\.\{0,1\}nv'"
done
t "... and without the limit it is made" "$T/srv" "$T/nv" init

# An item store of the first releases gets its history table at the first
# writable open: a commit of its own, outside any change.
check "old_vault builds (a vault as the first releases made it)" \
	kmc_cc "$T/old" "$KMC_TOP/tests/e2e/old_vault.c"
printf 'db-password-1' >"$T/olddb"
t "a vault of the first releases, without a history table" \
	"$T/old" --no-history "$T/ov" "$KMC_HOST_KEY" db=1:"$T/olddb"
osize=$(stat -c %s "$T/ov/items.mdb")
obefore=$(cd "$T/ov" && sha256sum items.mdb kmc.ks StandbyKsf.ks)
t_err 1 "its first writable open under a limit of its store's size fails naming it (not SIGXFSZ)" \
	"writing $T/ov/items.mdb: it would pass this process's file size limit of $osize bytes .*history table" \
	under_limit "$osize" "$T/srv" "$T/ov" put db2 "$T/pw"
check "... and the store and keystores are as they were" \
	[ "$obefore" = "$(cd "$T/ov" && sha256sum items.mdb kmc.ks StandbyKsf.ks)" ]
t "... and without the limit the put is made" "$T/srv" "$T/ov" put db2 "$T/pw"

done_testing
