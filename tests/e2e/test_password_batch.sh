#!/usr/bin/env bash
# test_password_batch.sh - kmc password set --batch FILE|-: many passwords
# in one transaction, as docs/cli.md (*Many passwords at once*) and
# docs/format.md (*Password batch*) say: the line rules, all or nothing
# on a bad line (named by number, its bytes never shown), the file
# checked as a password file, and no password in argv, in a message or
# in anything kmc writes but the sealed store.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/v
B=$T/batch.txt
export KMC_HOST_KEY=$T/host.key
t "init" "$KMC" --vault "$V" init

batch_file() { (umask 077 && printf "$@" >"$B"); }
get() { "$KMC" --vault "$V" password get "$1" 2>/dev/null; }
is() { # is NAME TEXT: password NAME is exactly TEXT
	local got
	got=$(get "$1")
	[ "$got" = "$2" ] || { echo "password $1: '$got', wanted '$2'" >&2; false; }
}
absent() { ! get "$1" >/dev/null || { echo "password $1 exists" >&2; false; }; }

# ---- the format ----------------------------------------------------------------

batch_file '# tenants\n\nalpha one\nbeta\t two  \ngamma x y\tz\ndelta last'
t_err 0 "password set --batch FILE stores every item line and says how many" \
	"stored 4 passwords from .*batch.txt" "$KMC" --vault "$V" password set --batch "$B"
check "a line's password is the rest of it after one space" is alpha one
check "a tab separates too, and spaces after it belong to the password" is beta ' two  '
check "spaces and tabs inside a password are kept" is gamma "$(printf 'x y\tz')"
check "the last line needs no newline" is delta last
check "comment lines store nothing" bash -c '! "$1" --vault "$2" list | grep -q "#"' _ "$KMC" "$V"

t "password set --batch - reads standard input" \
	bash -c 'printf "alpha uno\nepsilon five\n" | "$1" --vault "$2" password set --batch -' _ "$KMC" "$V"
check "... replacing alpha" is alpha uno
check "... and adding epsilon" is epsilon five

# ---- all or nothing -------------------------------------------------------------

snap=$(snapshot "$V")
bad() { # bad DESC CODE REGEX CONTENT: refused, line 3 named, nothing changed
	local desc=$1 code=$2 re=$3
	shift 3
	batch_file "$@"
	t_err "$code" "bad line: $desc: refused, the file and line 3 named" \
		"reading the passwords from .*batch.txt; nothing was stored: line 3: .*$re" \
		"$KMC" --vault "$V" password set --batch "$B"
	check "bad line: $desc: the good lines before it are not stored" absent zeta
	check "bad line: $desc: the vault files are unchanged" \
		test "$(snapshot "$V")" = "$snap"
}
bad "no separator" 2 "no space or tab" 'zeta z\n#\nSeKrIt-line\n'
check "the message never shows the line's bytes" bash -c '! grep -q SeKrIt "$1"' _ "$LAST_ERR"
bad "CRLF" 2 "carriage return" 'zeta z\n\neta y\r\n'
bad "CR at the end of the input" 2 "carriage return" 'zeta z\n\neta y\r'
bad "empty password" 2 "empty password" 'zeta z\n\neta \n'
bad "NUL in the password" 2 "NUL" 'zeta z\n\neta a\0b\n'
bad "bad name" 2 "the name is not of" 'zeta z\n\n.eta SeKrIt\n'
check "the message never shows the bad name's line" bash -c '! grep -q SeKrIt "$1"' _ "$LAST_ERR"
long=$(head -c 4097 /dev/zero | tr '\0' p)
bad "password of 4097 bytes" 2 "more than 4096 bytes" "zeta z\n\neta $long\n"
bad "line without end" 2 "longer than" "zeta z\n\n$long$long\n"
check "exactly 4096 bytes is a password" bash -c 'printf "long %s\n" "$(head -c 4096 /dev/zero | tr "\0" q)" |
	"$1" --vault "$2" password set --batch - 2>/dev/null' _ "$KMC" "$V"
check "... stored whole" test "$(get long | wc -c)" = 4096

# ---- the file -------------------------------------------------------------------

batch_file 'zeta z\n'
chmod 0640 "$B"
t_err 5 "a batch file others may read is refused" "mode 0640" \
	"$KMC" --vault "$V" password set --batch "$B"
chmod 0600 "$B"
ln -s "$B" "$T/link.txt"
t_rc 5 "a link is refused" "$KMC" --vault "$V" password set --batch "$T/link.txt"
t_err 7 "a missing file is named" "nope.txt" "$KMC" --vault "$V" password set --batch "$T/nope.txt"
check "none of those stored anything" absent zeta
t_err 2 "--batch with NAME is refused" "takes no NAME" \
	"$KMC" --vault "$V" password set zeta --batch "$B"
t_err 2 "--batch with --password-file is refused" "give no --password-file" \
	"$KMC" --vault "$V" password set --batch "$B" --password-file "$B"
t_err 2 "password set without NAME or --batch is refused with the usage" "usage: kmc password set NAME .* --batch" \
	"$KMC" --vault "$V" password set
batch_file ''
t_err 0 "an empty batch stores nothing and says so" "stored 0 passwords" \
	"$KMC" --vault "$V" password set --batch "$B"

# ---- secret hygiene -------------------------------------------------------------

SO=$KMC_BUILD/tests/faultinject.so
if [ -f "$SO" ]; then
	LOG=$T/write.log
	PW='Batch-Hygiene-9c41e7'
	batch_file "hyg $PW\nhyg2 ${PW}-2\n"
	t "password set --batch under the write log" env LD_PRELOAD="$SO" KMC_WRITE_LOG="$LOG" \
		"$KMC" --vault "$V" password set --batch "$B"
	check "control: the password is in the batch file" grep -q "$PW" "$B"
	check "the write log (every byte kmc wrote) holds no batch password" \
		bash -c '! grep -a -q -F "$1" "$2"' _ "$PW" "$LOG"
	check "no vault file holds a batch password" bash -c '! grep -r -a -q -F "$1" "$2"' _ "$PW" "$V"
	check "... and they were stored" is hyg2 "$PW-2"
fi
check "argv never carries a batch password: --batch takes a file name" \
	bash -c '"$1" password set --help | grep -q -- "--batch FILE|-"' _ "$KMC"

# ---- a disk that fills up under the commit ---------------------------------------------
# A few KiB left: the batch's pages do not fit, and LMDB's write stops
# short, which it reports as EIO. The message names items.mdb and says
# the file system is full (not a failing disk), nothing changes, and with
# space again the vault verifies and takes the batch.
FS=$T/fs
if mkdir -m 700 "$FS" && mount -t tmpfs -o size=1m,mode=700 tmpfs "$FS" 2>/dev/null; then
	trap 'umount "$FS" 2>/dev/null; rm -rf "$T" ${_vgdir:+"$_vgdir"}' EXIT
	FV=$FS/v
	"$KMC" --vault "$FV" init 2>/dev/null
	(umask 077 && printf 'keep kept\n' >"$T/keep") &&
		"$KMC" --vault "$FV" password set --batch "$T/keep" 2>/dev/null
	(umask 077 && for i in $(seq 1 40); do
		printf 'full%d %s\n' "$i" "$(head -c 3000 /dev/urandom | base64 -w0)"
	done >"$B")
	avail=$(df -B1 --output=avail "$FS" | tail -n 1)
	head -c $((avail - 32 * 1024)) /dev/zero >"$FS/filler"
	# LMDB may leave the pages it wrote past the last commit in the file:
	# what the vault holds is compared, not the bytes.
	held() { "$KMC" --vault "$FV" status --json 2>/dev/null |
		jq -c '{generation, items, store_generation, binding, healthy}'; }
	held_same() { held | diff - "$T/full.before" >&2; }
	held >"$T/full.before"
	t_err 6 "with 32 KiB left, a batch that does not fit fails naming items.mdb and the full disk" \
		"storing the 40 passwords of .*: writing $FV/items\.mdb: (Input/output error: a write was cut short, and its file system has [0-9]+ bytes free|No space left on device)" \
		"$KMC" --vault "$FV" password set --batch "$B"
	check "... and nothing changed: no new item, the same generations, bound, healthy" \
		held_same
	rm -f "$FS/filler"
	t "with space again, kmc verify finds every record whole" "$KMC" --vault "$FV" verify
	t "... kmc audit verify the log intact" "$KMC" --vault "$FV" audit verify
	t_out "... the item from before reads" 'kept' "$KMC" --vault "$FV" password get keep
	t "... and the batch goes in" "$KMC" --vault "$FV" password set --batch "$B"
	check "... whole" test "$("$KMC" --vault "$FV" list 2>/dev/null | grep -c '^full')" = 40
	umount "$FS"
else
	echo "ok - a disk that fills up under the commit # SKIP no tmpfs mount here"
fi

done_testing
