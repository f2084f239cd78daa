#!/usr/bin/env bash
# test_api_contract.sh - what a call of the public API really returns is
# what man/kmc.3 says it returns (tests/e2e/api_contract.c): each case
# makes a call fail one way, and kmc.3's paragraph of that function (or
# of the one it says "Returns as") must list the code. A code returned
# but not documented leaves a server author's switch without its case.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAN3=$KMC_TOP/man/kmc.3
AC=$T/api_contract
check "the api_contract helper builds" kmc_cc "$AC" "$KMC_TOP/tests/e2e/api_contract.c"

# para FUNC: kmc.3's paragraph of FUNC, from its synopsis line to the
# next .TP or section, with the paragraph of the function its "Returns
# as" names.
para() {
	local p ref
	p=$(awk -v f="$1(" '
		/^\.(TP|SS|SH)/ { if (on) exit }
		/^\.BI? / && index($0, f) && $0 ~ /[ *]kmc_/ { on = 1 }
		on' "$MAN3")
	printf '%s\n' "$p"
	ref=$(printf '%s\n' "$p" | grep -A1 '^Returns as$' | sed -nE 's/^\.BR ([a-z_0-9]+) .*/\1/p')
	# At most three deep: two paragraphs that name each other end there.
	[ -n "$ref" ] && [ "$ref" != "$1" ] && [ "${2:-0}" -lt 3 ] && para "$ref" $((${2:-0} + 1))
	return 0
}
# errors_entry CODE: kmc.3's ERRORS entry of CODE.
errors_entry() {
	awk -v c="$1" '/^\.SH/ { sec = $2 } sec == "ERRORS" && /^\.TP/ { on = 0 }
		sec == "ERRORS" && $0 == ".B " c { on = 1 } on' "$MAN3"
}
# documents "FUNC CODE": kmc.3's paragraph of FUNC lists CODE, or the
# ERRORS entry of CODE names FUNC (as KMC_E_AUDIT's names every change).
documents() {
	local f=${1% *} code=${1#* }
	[ "$code" = -errno ] && code=errno
	para "$f" | grep -qw -- "$code" || errors_entry "$code" | grep -qw -- "$f"
}
# case_ok NAME OUTPUT: the call failed (not 0) and kmc.3 lists the code.
case_ok() {
	[ -n "$2" ] && [ "${2#* }" != 0 ] || { echo "no failure: '$2'" >&2; return 1; }
	documents "$2" || { echo "kmc.3 does not list: $2" >&2; return 1; }
}

out=$("$AC" read-fd-zero 2>/dev/null </dev/null)
check "kmc_secret_read_fd() with max 0: kmc.3 lists what it returns ($out)" case_ok fd "$out"

secret_file "$T/pw" 'a password'
out=$("$AC" read-file-zero "$T/pw" 2>/dev/null)
check "kmc_secret_read_file() with max 0: kmc.3 lists what it returns ($out)" case_ok file "$out"

# dir NULL: kmc_default_vault_dir(), which fails on an over-long $KMC_VAULT.
long=$(printf '/x%.0s' $(seq 3000))
out=$(KMC_VAULT=$long "$AC" open-default 2>/dev/null)
check "kmc_vault_open(NULL) with an over-long \$KMC_VAULT: kmc.3 lists what it returns ($out)" \
	case_ok open "$out"

# A restore cut off halfway: a reader is told so, not handed the files.
V=$T/v
t "a vault" "$KMC" --vault "$V" init
: >"$V/.kmc-restore"
out=$("$AC" open "$V" 2>"$T/err")
check "kmc_vault_open() of a vault with a restore cut off: kmc.3 lists what it returns ($out)" \
	case_ok open "$out"
check "... and the detail says kmc repair finishes it" grep -q 'kmc repair finishes it' "$T/err"
rm -f "$V/.kmc-restore"
t_out "kmc_vault_open() opens it once the mark is gone" 'kmc_vault_open 0' "$AC" open "$V"

# Every call that reads the item store, once its digest's root is gone
# behind kmc's back: each refuses and kmc.3 lists what it returns.
# kmc_bundle_has_cert() said "no bundle" and kmc_bundle_versions() "no
# other version" (an unread part passed for a missing one).
R=$T/rv
t "a vault for the reads" "$KMC" --vault "$R" init
t "... with a CA" "$KMC" --vault "$R" ca init c1 --subject /CN=c1
t "... a bundle it issued" "$KMC" --vault "$R" cert issue srv --ca c1 --server \
	--subject /CN=srv
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout /dev/null -subj /CN=anchor -days 2 -out "$T/anchor.pem" 2>/dev/null
t "... and a trust store" "$KMC" --vault "$R" trust add a1 "$T/anchor.pem"
"$AC" reads "$R" srv c1 >"$T/reads.before" 2>/dev/null
check "each read works on the intact store, but the token calls (not a token key)" \
	test "$(grep -v ' 0$' "$T/reads.before" | tr '\n' ' ')" = \
	"kmc_token_key_uri KMC_E_TYPE kmc_token_key_info KMC_E_TYPE "
t_out "the digest root is removed" dropped "$AC" drop-digest "$R"
# kmc status said healthy (exit 0), the refusal only in its "nearest
# expiry not checked" line.
t_err 12 "kmc status of it exits 12, naming the digest" \
	"digest whose root was removed" "$KMC" --vault "$R" status
"$AC" reads "$R" srv c1 >"$T/reads" 2>/dev/null
check "... 20 reads are made" test "$(wc -l <"$T/reads")" -eq 20
while read -r f code; do
	check "$f of a store whose digest root is gone: kmc.3 lists what it returns ($code)" \
		case_ok "$f" "$f $code"
done <"$T/reads"
for f in kmc_bundle_has_cert kmc_bundle_versions kmc_mk_list kmc_trust_list kmc_ca_list; do
	check "... $f is refused as rolled back" grep -qx "$f KMC_E_ROLLBACK" "$T/reads"
done

# A bundle name that is no item name, and a bundle whose key is another
# type of item: kmc_item_get()'s codes, through the TLS calls.
long=$(printf 'b%.0s' $(seq 126))
for f in key-load ctx-use; do
	out=$("$AC" $f "$V" 'bad name' 2>/dev/null)
	check "$f of a bad bundle name: kmc.3 lists what it returns ($out)" case_ok $f "$out"
	out=$("$AC" $f "$V" "$long" 2>/dev/null)
	check "$f of a bundle name too long for its parts: kmc.3 lists what it returns ($out)" \
		case_ok $f "$out"
done
t_out "an item x/key that is a secret, not a key" 'kmc_item_put 0' "$AC" put "$V" x/key
t_out "... and x/cert, a secret too" 'kmc_item_put 0' "$AC" put "$V" x/cert
for f in key-load ctx-use; do
	out=$("$AC" $f "$V" x 2>/dev/null)
	check "$f of a bundle whose part is of another type: kmc.3 lists what it returns ($out)" \
		case_ok $f "$out"
done

# A change through a handle that holds a snapshot is refused (KMC_E_BUSY,
# as kmc_vault_snapshot() says): each writing call lists it.
"$AC" put-in-snapshot "$V" x/key >"$T/snapput" 2>/dev/null
while read -r f code; do
	check "$f while a snapshot is held: kmc.3 lists what it returns ($code)" \
		case_ok "$f" "$f $code"
done <"$T/snapput"
check "... three calls, each refused" test "$(grep -c KMC_E_BUSY "$T/snapput")" -eq 3

# A change whose audit record cannot be written is refused (KMC_E_AUDIT).
cp -a "$V" "$T/noaudit" && rm "$T/noaudit/audit.log" && mkdir "$T/noaudit/audit.log"
out=$("$AC" put "$T/noaudit" y 2>/dev/null)
check "kmc_item_put() whose audit record cannot be written: kmc.3 lists what it returns ($out)" \
	case_ok put "$out"

# kmc_uri_format() and kmc_ref_format() that fail leave a detail of their
# own, never an earlier call's (they left the last failure's, about a
# secret, for a server to log under the URI), and a relative folder when
# the current one is gone is a documented -errno.
"$AC" uri /srv/vault 'bad name' >"$T/uri" 2>/dev/null
for f in kmc_uri_format kmc_ref_format; do
	check "$f() of a bad name returns KMC_E_NAME" grep -qx "$f KMC_E_NAME" "$T/uri"
done
check "... and neither leaves an earlier call's detail" \
	test "$(grep -c '^detail: .*secret' "$T/uri")" -eq 0
check "... each detail names the item name" test "$(grep -c '^detail: .*bad name' "$T/uri")" -eq 2
mkdir "$T/gone"
(cd "$T/gone" && rmdir "$T/gone" && "$AC" uri vault server) >"$T/uri-gone" 2>/dev/null
while read -r f code; do
	check "$f() of a relative folder, the current one gone: kmc.3 lists what it returns ($code)" \
		case_ok "$f" "$f $code"
done < <(grep '^kmc_' "$T/uri-gone")
check "... and both failed" test "$(grep -c -- ' -errno$' "$T/uri-gone")" -eq 2

# A ciphertext string far longer than any the vault makes.
out=$("$AC" decrypt-long "$V" 2>/dev/null)
check "kmc_string_decrypt() of an over-long string: kmc.3 lists what it returns ($out)" \
	case_ok decrypt "$out"

# kmc_item_list() of a handle whose item store lost its digest root behind
# kmc's back (another process, after the open) refuses the walk.
cp -a "$V" "$T/nodigest"
mkfifo "$T/go"
"$AC" list-twice "$T/nodigest" <"$T/go" >"$T/list-twice" 2>/dev/null &
lpid=$!
exec 3>"$T/go"
for _ in $(seq 400); do [ -s "$T/list-twice" ] && break; sleep 0.05; done
check "kmc_item_list() of the intact store returns 0" grep -qx 'kmc_item_list 0' "$T/list-twice"
t_out "the digest root is removed from items.mdb's meta" dropped "$AC" drop-digest "$T/nodigest"
echo go >&3
exec 3>&-
wait "$lpid"
out=$(sed -n 2p "$T/list-twice")
check "kmc_item_list() after it: kmc.3 lists what it returns ($out)" case_ok list "$out"

# kmc_batch_begin() leaves NULL on failure for a cleanup path; a caller that
# commits it unchecked gets an error, not a crash.
out=$("$AC" commit-null 2>/dev/null)
check "kmc_batch_commit(NULL): kmc.3 lists what it returns ($out)" case_ok commit "$out"

# kmc_audit_read() of a folder that is no vault, with a bad time or item.
audit_case() { # audit_case WHAT DIR SINCE ITEM
	local out
	out=$("$AC" audit-read "$2" "$3" "$4" 2>/dev/null | head -1)
	check "kmc_audit_read() $1: kmc.3 lists what it returns ($out)" case_ok audit "$out"
}
audit_case "of a folder that is no vault" "$T/novault" - -
audit_case "since a time that is none" "$V" 2026-13-01 -
audit_case "of an item name no item can have" "$V" - 'bad name'
cp -a "$V" "$T/shared" && chmod 770 "$T/shared"
audit_case "of a vault folder its group may write" "$T/shared" - -
# Without a callback it only counts (*ret_state), for a caller that wants
# the head and counts: kmc.3 says cb may be NULL.
t_out "kmc_audit_read() with a callback counts every record" \
	"kmc_audit_read 0
records 5 seen 5" "$AC" audit-read "$V" - -
t_out "kmc_audit_read() with cb NULL counts them in *ret_state" \
	"kmc_audit_read 0
records 5 seen 0" "$AC" audit-read "$V" - - nocb
t_out "... and with cb NULL and an item" \
	"kmc_audit_read 0
records 5 seen 0" "$AC" audit-read "$V" - x/key nocb

# *ret_state of the audit calls is written whatever the return (kmc.3):
# zeros when the call fails before its walk (it was left as the caller's
# bytes), what was walked when the log fails its check.
cp -a "$V" "$T/tampered"
sed -i '2s/"uid":/"uid":1/' "$T/tampered/audit.log"
"$AC" audit-state "$T/tampered" >"$T/audit-state" 2>/dev/null
check "kmc_audit_read() refused before its walk leaves *ret_state all zero" \
	grep -qx 'nonzero 0' "$T/audit-state"
check "... and was refused (KMC_E_INVALID)" grep -qx 'kmc_audit_read KMC_E_INVALID' "$T/audit-state"
check "kmc_audit_verify() of an edited record fails (KMC_E_AUDIT)" \
	grep -qx 'kmc_audit_verify KMC_E_AUDIT' "$T/audit-state"
check "... and *ret_state counts the record before it" grep -qx 'records 1' "$T/audit-state"

# An older caller's kmc_status, shorter than this library's: status fills
# what fits, and kmc_status_free() must not take the bytes past its size
# for the lists (it freed whatever pointer lay there, and wrote there).
"$AC" status-old "$V" >"$T/status-old" 2>"$T/status-old.err"
check "kmc_vault_status() and kmc_status_free() of an older, shorter kmc_status touch nothing past its size" \
	grep -qx 'intact size [0-9]* items [0-9]*' "$T/status-old"
check "... and kmc_vault_status() filled it (returned 0)" grep -qx 'kmc_vault_status 0' "$T/status-old"

# A kmc_options whose size was left 0 is refused by every call that takes
# one, as kmc_vault_open_ex() and kmc_vault_init() do: kmc_protector_add()
# read none of it and added a host protector with the default host key,
# not the one the caller named.
"$KMC" --vault "$V" protector list >"$T/prot.before" 2>&1
t_out "kmc_protector_add() with kmc_options.size 0 is refused" \
	'kmc_protector_add KMC_E_INVALID' "$AC" add-size0 "$V" "$T/other.key"
check "... and names the field" grep -q 'kmc_options.size is 0' "$LAST_ERR"

# Output parameters are written only on success (kmc.3): a refused
# kmc_token_destroys_finish() wrote 0 to *ret_left before its check.
"$AC" destroys-ro "$V" >"$T/destroys-ro" 2>&1
check "kmc_token_destroys_finish() of a read-only handle is refused" \
	grep -qx 'kmc_token_destroys_finish KMC_E_READONLY' "$T/destroys-ro"
check "... and leaves *ret_left as it was" grep -qx 'left 77' "$T/destroys-ro"
"$KMC" --vault "$V" protector list >"$T/prot.after" 2>&1
check "... and the vault's protectors are as they were" cmp -s "$T/prot.before" "$T/prot.after"
check "... and no host key was made" test ! -e "$T/other.key"

# Every name a kmc_*_name() gives, for any value, is in kmc.3's paragraph
# of that function ("NULL" included, for kmc_key_type_name()).
"$AC" names | sort -u >"$T/names"
check "the kmc_*_name() functions give at least 40 names" test "$(wc -l <"$T/names")" -ge 40
while read -r f n; do
	para "$f" | sed 's/\\-/-/g' >"$T/para"
	if [ "$n" = NULL ]; then
		check "kmc.3 says $f() may return NULL" grep -qw NULL "$T/para"
	else
		check "kmc.3 lists the name \"$n\" of $f()" grep -qF "\\(dq$n\\(dq" "$T/para"
	fi
done <"$T/names"

done_testing
