#!/usr/bin/env bash
# test_docs.sh - the documentation says what the command does:
#   - every command `kmc --help` lists (one or two words) is in man/kmc.1
#     and in docs/cli.md, and its `kmc COMMAND --help` works;
#   - every option `kmc --help` and each `kmc COMMAND --help` print is in
#     man/kmc.1, and every function of the public headers in man/kmc.3,
#     with every return code its header comment gives;
#   - both man pages render without a warning;
#   - every exit code of docs/cli.md's table is produced, exactly, by a
#     command that should produce it, and kmc.1 lists it too.
# Commands and codes are read from the command and the docs, so a new
# command needs only its lines in the docs, and a new exit code a case in
# exit_case below.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAN1=$KMC_TOP/man/kmc.1
MAN3=$KMC_TOP/man/kmc.3
CLIMD=$KMC_TOP/docs/cli.md

# ---- the pages render ---------------------------------------------------------

# no_warnings PAGE: groff, all warnings on, says nothing about PAGE.
no_warnings() {
	local w
	w=$(groff -man -ww -z -Tutf8 "$1" 2>&1 >/dev/null) || return 1
	[ -z "$w" ] || { printf '%s\n' "$w" >&2; return 1; }
}
# render PAGE: the page as plain text, wide enough that no option wraps.
render() { groff -man -Tascii -P-cbou -rLL=250n "$1" 2>/dev/null; }

check "groff is installed (tools/deps.sh: groff-base)" command -v groff
check "man/kmc.1 renders without a warning (groff -man -ww)" no_warnings "$MAN1"
check "man/kmc.3 renders without a warning (groff -man -ww)" no_warnings "$MAN3"
if command -v man >/dev/null; then
	man_l() { local w; w=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null); [ -z "$w" ] || { printf '%s\n' "$w" >&2; return 1; }; }
	check "man -l man/kmc.1 renders without a warning" man_l "$MAN1"
	check "man -l man/kmc.3 renders without a warning" man_l "$MAN3"
fi
render "$MAN1" >"$T/kmc.1.txt"
render "$MAN3" >"$T/kmc.3.txt"
check "kmc.1 renders to text" test -s "$T/kmc.1.txt"
check "kmc.3 renders to text" test -s "$T/kmc.3.txt"
# The rendered text on one line, runs of blanks squeezed: no word is split.
tr -s ' \n' '  ' <"$T/kmc.1.txt" >"$T/kmc.1.flat"
# The COMMANDS section of kmc.1: each command heads a paragraph.
awk '/^COMMANDS/ { on = 1; next } /^[A-Z]/ { on = 0 } on' "$T/kmc.1.txt" >"$T/kmc.1.commands"

# ---- commands -------------------------------------------------------------------

t "kmc --help exits 0" "$KMC" --help
"$KMC" --help >"$T/help" 2>/dev/null
tr -s ' \n' '  ' <"$T/help" >"$T/help.flat"
# The Commands: section, up to the first blank line; a command line starts
# with two blanks (continuations with more). The second word belongs to
# the command when it is a plain lowercase word: "protector add", "cert
# info", but not "rm NAME", "init [--protector", "completion bash|zsh".
awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on' "$T/help" |
	grep -E '^  [a-z]' |
	awk '{ if ($2 ~ /^[a-z][a-z0-9-]*$/) print $1 " " $2; else print $1 }' >"$T/commands"
check "kmc --help lists at least the commands of the first release (15 or more)" \
	test "$(wc -l <"$T/commands")" -ge 15
for c in "protector add" "password get" "import" "cert info" "version"; do
	check "the parser of kmc --help finds '$c'" grep -qxF "$c" "$T/commands"
done

heads_paragraph() { # heads_paragraph CMD: a paragraph of kmc.1's COMMANDS starts with it
	grep -Eq "^ {7}$1( |\$)" "$T/kmc.1.commands"
}
has_row() { # has_row CMD: a row of cli.md's command table starts with it
	grep -Eq "^\| \`$1( |\`)" "$CLIMD"
}
while read -r c; do
	# shellcheck disable=SC2086 # a two-word command is two arguments
	t "kmc $c --help exits 0" "$KMC" $c --help
	# shellcheck disable=SC2086
	"$KMC" $c --help >"$T/help.$c" 2>/dev/null
	check "kmc.1 documents the command '$c' (COMMANDS)" heads_paragraph "$c"
	check "docs/cli.md documents the command '$c' (its table)" has_row "$c"
done <"$T/commands"

# ---- options --------------------------------------------------------------------

# Options as printed: --long-name, or -x alone (not the "-256" of "P-256"
# nor the "-id" of "mk-id").
cat "$T/help" "$T"/help.* |
	grep -oE '(^|[^A-Za-z0-9-])(--[a-z0-9][a-z0-9-]*|-[a-zA-Z])([^A-Za-z0-9-]|$)' |
	grep -oE -- '--?[a-zA-Z0-9][a-z0-9-]*' | sort -u >"$T/options"
check "the help texts give at least 30 options" test "$(wc -l <"$T/options")" -ge 30
for o in --vault --host-key --json -c --pkcs11-uri --recovery-fd; do
	check "the option parser finds $o" grep -qxF -- "$o" "$T/options"
done
in_man1() { grep -Eq -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|\$)" "$T/kmc.1.flat"; }
while read -r o; do
	check "kmc.1 documents the option $o" in_man1 "$o"
done <"$T/options"

# ---- the C API -----------------------------------------------------------------

grep -h '^KMC_API ' "$KMC_TOP"/include/kmc.h "$KMC_TOP"/include/kmc/*.h |
	sed -E 's/\(.*//; s/.*[ *]//' | sort -u >"$T/functions"
check "the public headers export at least 40 functions" test "$(wc -l <"$T/functions")" -ge 40
while read -r f; do
	check "kmc.3 documents $f()" grep -Eq "^\.BI? \"?[^\"]*[ *]$f\(" "$MAN3"
done <"$T/functions"

# Every code a header comment says an int function returns is in kmc.3's
# paragraph of it, or its ERRORS entry names the function: a server author
# who reads only the man page writes a case for each. The paragraph includes the one it defers to ("As X()",
# "Returns as X()") and the next when that one says what "Both return".
man3_para() {
	awk -v f="$1(" '
		/^\.(SS|SH)/ { if (on) exit }
		/^\.TP/ { if (on == 1) { on = 2; next } if (on == 2) exit }
		on == 0 && /^\.BI? / && index($0, f) { on = 1 }
		on == 1 { print }
		on == 2 { held = held $0 "\n"; if (/^Both return/) both = 1 }
		END { if (both) printf "%s", held }' "$MAN3" >"$T/para.$1"
	cat "$T/para.$1"
	local ref
	ref=$(grep -A1 -E '^(Returns )?[Aa]s$' "$T/para.$1" |
		sed -nE 's/^\.BR (kmc_[a-z_0-9]+) .*/\1/p' | head -1)
	# At most three deep: two paragraphs that name each other end there.
	[ -n "$ref" ] && [ "$ref" != "$1" ] && [ "${2:-0}" -lt 3 ] && man3_para "$ref" $((${2:-0} + 1))
	return 0
}
# "FUNCTION CODE" for each KMC_E_ code in the comment above an int
# function (a comment above several declarations serves each).
awk '
	/\/\*/ { if (!incom) buf = ""; incom = 1 }
	incom { buf = buf " " $0 }
	/\*\// { incom = 0; next }
	/^KMC_API int / {
		fn = $0; sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn)
		s = buf
		while (match(s, /KMC_E_[A-Z0-9_]+/)) {
			print fn, substr(s, RSTART, RLENGTH)
			s = substr(s, RSTART + RLENGTH)
		}
		next
	}
	/^KMC_API / { next }
	!incom && /^[^ \t]/ { buf = "" }
' "$KMC_TOP"/include/kmc.h "$KMC_TOP"/include/kmc/*.h | sort -u >"$T/header-codes"
check "the header comments list at least 300 return codes" test "$(wc -l <"$T/header-codes")" -ge 300
: >"$T/codes-missing"
# Or kmc.3's ERRORS entry of the code names the function (KMC_E_AUDIT's
# names every call that changes the vault).
errors_entry() {
	awk -v c="$1" '/^\.SH/ { sec = $2 } sec == "ERRORS" && /^\.TP/ { on = 0 }
		sec == "ERRORS" && $0 == ".B " c { on = 1 } on' "$MAN3"
}
while read -r f code; do
	man3_para "$f" | grep -qw -- "$code" || errors_entry "$code" | grep -qw -- "$f" ||
		echo "$f $code" >>"$T/codes-missing"
done <"$T/header-codes"
check "kmc.3 lists every code the headers say a function returns" test ! -s "$T/codes-missing"
[ -s "$T/codes-missing" ] && sed 's/^/#   not in kmc.3: /' "$T/codes-missing" >&2

# ---- environment -----------------------------------------------------------------

# Every variable the library or the command reads (tests and tools aside).
grep -rhoE 'getenv\("[A-Z_]+"\)' "$KMC_TOP"/kmc "$KMC_TOP"/safeio "$KMC_TOP"/vault \
	"$KMC_TOP"/pkcs11 "$KMC_TOP"/cli "$KMC_TOP"/provider | sed -E 's/.*\("//; s/"\)//' | sort -u >"$T/env"
# XDG_*_HOME is read by a name passed in; those are listed by hand.
printf '%s\n' XDG_DATA_HOME XDG_CONFIG_HOME >>"$T/env"
check "the code reads KMC_VAULT and KMC_HOST_KEY" grep -qx KMC_HOST_KEY "$T/env"
awk '/^ENVIRONMENT/ { on = 1; next } /^[A-Z]/ { on = 0 } on' "$T/kmc.1.txt" >"$T/kmc.1.env"
while read -r e; do
	check "kmc.1 ENVIRONMENT documents \$$e" grep -Eq "^ {7}$e( |\$)" "$T/kmc.1.env"
done < <(sort -u "$T/env")

# ---- exit codes -------------------------------------------------------------------

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
P=$T/pki
PW=$T/pw
secret_file "$PW" 'server-key-password'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" 'server-key-password'
t "a vault for the exit codes" kmc init
t "... with an imported bundle" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" -r "$P/ca.crl" --password-file "$PW"
IMPORT=(-c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" --password-file "$PW")

# A copy of the vault to break: copy_vault NAME.
copy_vault() { cp -a "$V" "$T/$1"; }
to_full() { "$@" >/dev/full; }
# An expired server certificate from mkpki's CA and CSR.
sign_expired() {
	local db=$T/cadb
	mkdir -m 700 "$db" && cp "$P/ca.cnf" "$P/ca.crt" "$P/ca.key" "$db/" &&
		: >"$db/index.txt" && echo 3000 >"$db/serial" && echo 3000 >"$db/crlnumber" &&
		(cd "$db" && openssl ca -config ca.cnf -batch -notext \
			-startdate 20200101000000Z -enddate 20210101000000Z \
			-extensions server -in "$P/server.csr" -out "$T/expired.crt") >/dev/null 2>&1
}

# exit_case CODE: the commands that must exit CODE, as cli.md says.
exit_case() {
	case $1 in
	0)
		t_rc 0 "exit 0: kmc version" "$KMC" version
		t_rc 0 "exit 0: kmc status on a healthy vault" kmc status ;;
	1)
		t_err 1 "exit 1 (other failure): removing the last protector" 'last one' \
			kmc protector remove 1 ;;
	2)
		t_err 2 "exit 2 (usage): an unknown option" 'unknown option' "$KMC" --no-such-option
		t_rc 2 "exit 2 (usage): a command without its operand" kmc password get
		t_err 2 "exit 2 (malformed input): a ciphertext string that is not one" \
			'kmc:v1' kmc decrypt 'kmc:v1:not-a-string'
		head -c 300 /dev/urandom | base64 >"$T/garbage.crt"
		t_err 2 "exit 2 (malformed input): a CA file of garbage" 'garbage\.crt' \
			kmc import --name g -c "$T/garbage.crt" -s "$P/server.crt" \
			-k "$P/server.key" --password-file "$PW" ;;
	3)
		secret_file "$T/pp" 'the vault passphrase'
		secret_file "$T/pp.wrong" 'not the vault passphrase'
		t "a passphrase vault (Argon2id 1 pass, 8 MiB)" "$KMC" --vault "$T/pv" init \
			--protector passphrase --passphrase-file "$T/pp" --argon2-ops 1 --argon2-mem 8
		t_rc 3 "exit 3 (authentication): a wrong passphrase" \
			"$KMC" --vault "$T/pv" password get x --passphrase-file "$T/pp.wrong"
		mv "$KMC_HOST_KEY" "$T/host.key.away"
		t_rc 3 "exit 3 (authentication): a missing host key" kmc password get server
		mv "$T/host.key.away" "$KMC_HOST_KEY" ;;
	4)
		copy_vault v4
		# Flip the byte: writing a fixed one left it as it was
		# once in 256 runs.
		b=$(od -An -tu1 -j100 -N1 "$T/v4/kmc.ks" | tr -d ' ')
		printf "\\$(printf %03o $((255 - b)))" |
			dd of="$T/v4/kmc.ks" bs=1 seek=100 conv=notrunc 2>/dev/null
		t_err 4 "exit 4 (integrity): kmc status on a vault with an altered keystore" \
			'repair' "$KMC" --vault "$T/v4" status ;;
	5)
		copy_vault v5
		chmod 644 "$T/v5/kmc.ks"
		t_err 5 "exit 5 (permission): a keystore others can read" 'mode 0644' \
			"$KMC" --vault "$T/v5" password get server ;;
	6)
		t_err 6 "exit 6 (I/O): standard output cannot be written (/dev/full)" \
			'No space left' to_full kmc ref server --uri ;;
	7)
		t_err 7 "exit 7 (not found): a missing item" 'no item nosuch' kmc password get nosuch
		t_rc 7 "exit 7 (not found): a missing vault" "$KMC" --vault "$T/nowhere" list ;;
	8)
		t_err 8 "exit 8 (exists): kmc init on a vault" 'already holds a vault' kmc init
		t_rc 8 "exit 8 (exists): an import over a bundle without --replace" \
			kmc import "${IMPORT[@]}" ;;
	9)
		check "signed an expired server certificate (openssl ca, mkpki's CA)" sign_expired
		t_err 9 "exit 9 (verification): an expired certificate" 'expired' \
			kmc import --name old -c "$P/ca.crt" -s "$T/expired.crt" \
			-k "$P/server.key" --password-file "$PW"
		t_rc 9 "exit 9 (verification): an item of another type than asked for" \
			kmc password get server/key ;;
	10)
		kmc mk rotate 2>/dev/null
		t_err 10 "exit 10 (in use): retiring a master key that still seals items" \
			'still seals' kmc mk retire 1
		t_err 10 "exit 10 (in use): retiring the active master key" \
			'is the active one' kmc mk retire 2 ;;
	11)
		# mkpki's certificates and CRL are good for 30 days: due.
		t_err 11 "exit 11 (due): kmc cert check, a certificate expiring within 30 days" \
			'due within 30 days' kmc cert check
		t_rc 0 "exit 0: kmc cert check --within 0, nothing expired yet" \
			kmc cert check --within 0 ;;
	12)
		# Copies share the vault's state file (lib.sh): kept, put back.
		state_save "$V" "$T/state12"
		# One older record of an item put back with mdb_load, on a copy.
		copy_vault v12r
		secret_file "$T/pw12r" 'first'
		"$KMC" --vault "$T/v12r" password set rb --password-file "$T/pw12r" 2>/dev/null
		mdb_dump -n -s items "$T/v12r/items.mdb" >"$T/items12r.dump"
		secret_file "$T/pw12r" 'second'
		"$KMC" --vault "$T/v12r" password set rb --password-file "$T/pw12r" 2>/dev/null
		mdb_load -n -s items -f "$T/items12r.dump" "$T/v12r/items.mdb" 2>/dev/null
		t_err 12 "exit 12 (rollback): an older record put back with mdb_load" \
			'item rb: items.mdb disagrees with its digest' \
			"$KMC" --vault "$T/v12r" password get rb
		# The older items.mdb of a copy, put back after a change.
		state_load "$V" "$T/state12"
		copy_vault v12
		secret_file "$T/pw12" 'changed after the copy'
		"$KMC" --vault "$T/v12" password set p12 --password-file "$T/pw12" 2>/dev/null
		cp "$V/items.mdb" "$T/v12/items.mdb" && rm -f "$T/v12/items.mdb-lock"
		t_err 12 "exit 12 (rollback): an items.mdb older than kmc.bind vouches for" \
			'kmc.bind vouches for .*--accept-rollback' "$KMC" --vault "$T/v12" list
		t_rc 0 "exit 0: kmc repair --accept-rollback accepts it" \
			"$KMC" --vault "$T/v12" repair --accept-rollback
		state_load "$V" "$T/state12" ;;
	13)
		copy_vault v13
		sed -i '1s/"uid":/"uid":1/' "$T/v13/audit.log"
		t_err 13 "exit 13 (audit): kmc audit verify on an edited record" \
			'MAC does not verify' "$KMC" --vault "$T/v13" audit verify
		rm "$T/v13/audit.log" && mkdir "$T/v13/audit.log"
		t_err 13 "exit 13 (audit): a change whose record cannot be written" \
			'audit.log is a directory' "$KMC" --vault "$T/v13" password set x \
			--password-file "$PW" ;;
	*)
		return 1 ;;
	esac
}

awk '/^## Exit codes/ { on = 1; next } /^## / { on = 0 } on' "$CLIMD" |
	grep -oE '^\| [0-9]+ \|' | grep -oE '[0-9]+' >"$T/codes"
check "docs/cli.md's exit-code table has codes 0 to 13" \
	test "$(tr '\n' ' ' <"$T/codes")" = "0 1 2 3 4 5 6 7 8 9 10 11 12 13 "
awk '/^EXIT STATUS/ { on = 1; next } /^[A-Z]/ { on = 0 } on' "$T/kmc.1.txt" >"$T/kmc.1.exit"
while read -r code; do
	check "kmc.1 EXIT STATUS lists $code" grep -Eq "^ {7}$code( |\$)" "$T/kmc.1.exit"
	check "kmc --help's summary names exit code $code" grep -Eq "(^|[ ,:])$code [A-Za-z]" "$T/help.flat"
	exit_case "$code" || check "exit code $code of cli.md has a case in test_docs.sh" false
done <"$T/codes"

# ---- files a service user reads are where it can read them -------------------------

# Root's kmc makes its host key's folder, /etc/kmcvault, 0700. A guide
# that has another user read a file there (an OpenSSL configuration, a
# PIN) does not work: OpenSSL skips a configuration it cannot read without
# a word, and the workers cannot log in. Lines run as another user
# (sudo -u USER), files given to one (chown USER), and PostgreSQL's
# environment file (read as postgres) must not name /etc/kmcvault/.
grep -rnE "sudo -u [a-z-]+ .*/etc/kmcvault/|chown [a-z-]+:? +/etc/kmcvault/|OPENSSL_CONF = '/etc/kmcvault/" \
	"$KMC_TOP/docs" "$KMC_TOP/README.md" >"$T/root-only" || true
check "no guide has a user other than root read a file in /etc/kmcvault (root's 0700 folder)" \
	test ! -s "$T/root-only"
[ -s "$T/root-only" ] && cat "$T/root-only" >&2

done_testing
