#!/usr/bin/env bash
# test_pkcs11.sh - the pkcs11 protector against SoftHSM2 tokens made in the
# test's temp dir: a key made by --create-key stays in the token, PINs
# from a file, a descriptor and the URI's pin-source (a pin-value on the
# command line is refused), the aes-gcm and rsa-oaep mechanisms, every refusal with nothing
# changed, a look-alike key on a replacement token, several protectors
# with fallback and recovery keys, and one process that opens through the
# token across fork() and fifty times in a row, reusing its logged-in
# session or not, and while the token goes and comes back
# (tests/e2e/p11_fork.c), and a host without libp11-kit
# (tests/e2e/no_p11kit.c).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v pkcs11-tool >/dev/null; then
	echo "# skip: SoftHSM2 ($MOD, softhsm2-util) or pkcs11-tool is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi

# Every kmc runs in a new session, without a controlling terminal: a
# missing PIN or passphrase must fail at once, never wait at a prompt.
kmc() { setsid -w "$KMC" "$@"; }

# ---- tokens ---------------------------------------------------------------------------

export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir -m 700 "$T/tokens" "$T/aside"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/tokens" >"$SOFTHSM2_CONF"
SO_PIN=so-secret-1
new_token() { # new_token LABEL PIN: an initialized token (selected by label)
	softhsm2-util --init-token --free --label "$1" --so-pin "$SO_PIN" --pin "$2" >/dev/null
}
token_dir() { # token_dir LABEL: the token's directory in the object store
	local f
	f=$(grep -lF -- "$(printf '%-32s' "$1")" "$T"/tokens/*/token.object 2>/dev/null | head -1)
	[ -n "$f" ] && dirname "$f"
}
p11tool() { # p11tool LABEL PIN ARGS...: pkcs11-tool logged in to that token
	local label=$1 pin=$2
	shift 2
	pkcs11-tool --module "$MOD" --token-label "$label" --login --pin "$pin" "$@"
}
objects() { p11tool "$1" "$2" --list-objects 2>/dev/null; }
object_block() { # object_block LABEL PIN OBJECT: pkcs11-tool's lines on it
	objects "$1" "$2" | awk -v want="$3" '
		/^[^ ]/ { if (hit) printf "%s", blk; blk = ""; hit = 0 }
		{ blk = blk $0 "\n" }
		$1 == "label:" && $2 == want { hit = 1 }
		END { if (hit) printf "%s", blk }'
}
# The key is AES-256, sensitive, never extractable, and its value unreadable.
key_stays_inside() {
	local b
	b=$(object_block "$@")
	grep -q 'Secret Key Object; AES length 32' <<<"$b" &&
		grep -Eq 'Access:( +| .*, +)sensitive(,|$)' <<<"$b" &&
		grep -q 'never extractable' <<<"$b" &&
		! grep -Eq 'Access:( +| .*, +)extractable(,|$)' <<<"$b" &&
		! grep -q 'VALUE:' <<<"$b" ||
		{ echo "pkcs11-tool says: ${b:-no such object}" >&2; false; }
}
not() { ! "$@" 2>/dev/null; }
uri() { # uri TOKEN OBJECT [QUERY]: an RFC 7512 URI through SoftHSM2
	printf 'pkcs11:token=%s;object=%s?module-path=%s%s' "$1" "$2" "$MOD" "${3:+&$3}"
}

PIN_A=alpha-pin-0451
PINF=$T/pin.alpha
secret_file "$PINF" "$PIN_A"
BADPIN=$T/pin.bad
secret_file "$BADPIN" 'not-the-pin-99'
PW=$T/pw
secret_file "$PW" 'db password 1'
PP=$T/pp
secret_file "$PP" 'the vault passphrase'
with_pin_fd() { "$@" 3<"$PINF"; } # with_pin_fd CMD...: the PIN on descriptor 3
LAST_OUT=$T/last.out
LAST_ERR=$T/last.err
keep() { cp "$OUT" "$LAST_OUT"; cp "$ERR" "$LAST_ERR"; } # the last t's output, for checks
new_token alpha "$PIN_A"
check "SoftHSM2 made token alpha in the temp dir" test -n "$(token_dir alpha)"

# ---- init --create-key, then PINs by file and by descriptor -------------------------------

V=$T/v
t "init --protector pkcs11 --create-key on token alpha" \
	kmc --vault "$V" init --protector pkcs11 --pkcs11-uri "$(uri alpha vault-key)" \
	--pin-file "$PINF" --create-key
check "the key made is AES-256, sensitive, never extractable, its value unreadable" \
	key_stays_inside alpha "$PIN_A" vault-key
kmc --vault "$V" protector list --json >"$T/list.json" 2>/dev/null
check "protector list: one pkcs11 protector, aes-cbc (the default), the URI with its module-path" \
	jq -e --arg m "module-path=${MOD//\//%2F}" 'length == 1 and .[0].type == "pkcs11" and
		(.[0].detail | startswith("aes-cbc pkcs11:") and contains("token=alpha") and
		contains("object=vault-key") and contains($m))' "$T/list.json"
t "password set through the token with --pin-file" \
	kmc --vault "$V" password set db --password-file "$PW" --pin-file "$PINF"
t_out "password get through the token with --pin-file" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF"
t_out "password get through the token with --pin-fd" 'db password 1' \
	with_pin_fd kmc --vault "$V" password get db --pin-fd 3
t "password set through the token with --pin-fd" \
	with_pin_fd kmc --vault "$V" password set db2 --password-file "$PW" --pin-fd 3
t_err 3 "no PIN and no terminal: exit 3 at once, saying the token needs a PIN" \
	"needs a PIN.*--pin-file" kmc --vault "$V" password get db
t_err 3 "a wrong PIN: exit 3 saying wrong PIN" "token alpha: wrong PIN" \
	kmc --vault "$V" password get db --pin-file "$BADPIN"

# ---- pin-source: kept, so a server opens with no flag and no terminal -------------------------

VS=$T/vs
t "init with pin-source=FILE in the URI and no PIN option" \
	kmc --vault "$VS" init --protector pkcs11 --pkcs11-uri "$(uri alpha source-key "pin-source=$PINF")" \
	--create-key
kmc --vault "$VS" protector list --json >"$T/list.json" 2>/dev/null
check "the stored URI keeps the pin-source" \
	jq -e --arg s "pin-source=${PINF//\//%2F}" '.[0].detail | contains($s)' "$T/list.json"
check "the pin-source is in kmc.ks and StandbyKsf.ks" \
	bash -c 'grep -aq "pin-source" "$1/kmc.ks" && grep -aq "pin-source" "$1/StandbyKsf.ks"' _ "$VS"
t "password set with no PIN option and no terminal" \
	kmc --vault "$VS" password set db --password-file "$PW"
t_out "password get with no PIN option and no terminal" 'db password 1' \
	kmc --vault "$VS" password get db
chmod 644 "$PINF"
t_err 3 "a pin-source file others can read is refused (exit 3) naming its mode" \
	"pin-source ${PINF}: .*mode 0644" kmc --vault "$VS" password get db
chmod 600 "$PINF"
VSF=$T/vsf
t "pin-source as a file: URI works too" \
	kmc --vault "$VSF" init --protector pkcs11 \
	--pkcs11-uri "$(uri alpha source-key "pin-source=file:$PINF")"
t_out "... and opens with no PIN option" '' kmc --vault "$VSF" list

# ---- pin-value: refused, since the command line is readable in ps for the whole run ----------

PIN_PV=Pv-zebra-7Qx3k
new_token pvtok "$PIN_PV"
VP=$T/vp
t_err 2 "init with pin-value=PIN in the URI is refused (exit 2), pointing to --pin-file and pin-source" \
	'holds a pin-value.*--pin-file.*pin-source' \
	kmc --vault "$VP" init --protector pkcs11 --pkcs11-uri "$(uri pvtok pv-key "pin-value=$PIN_PV")" \
	--create-key
check "... and no vault was made" test ! -e "$VP"
t_err 2 "... in any case and place (PIN-VALUE in the path)" 'holds a pin-value' \
	kmc --vault "$VP" init --protector pkcs11 --pkcs11-uri "pkcs11:PIN-VALUE=$PIN_PV;token=pvtok"
PVF=$T/pin.pv
secret_file "$PVF" "$PIN_PV"
t "the same token with --pin-file works" \
	kmc --vault "$VP" init --protector pkcs11 --pkcs11-uri "$(uri pvtok pv-key)" \
	--pin-file "$PVF" --create-key
H=$T/host
kmc --vault "$H" init 2>/dev/null
kmc --vault "$H" password set db --password-file "$PW" 2>/dev/null
before=$(snapshot "$H")
t_err 2 "protector add pkcs11 with a pin-value URI is refused (exit 2)" 'holds a pin-value' \
	kmc --vault "$H" protector add pkcs11 --pkcs11-uri "$(uri pvtok pv-key "pin-value=$PIN_PV")"
check "... and the vault is unchanged" test "$(snapshot "$H")" = "$before"
t "... which takes the token with --pin-file instead" \
	kmc --vault "$H" protector add pkcs11 --pkcs11-uri "$(uri pvtok pv-key)" --pin-file "$PVF"

# ---- mechanisms -------------------------------------------------------------------------------

VG=$T/vg
t "init with --mechanism aes-gcm on SoftHSM2" \
	kmc --vault "$VG" init --protector pkcs11 --pkcs11-uri "$(uri alpha gcm-key)" \
	--pin-file "$PINF" --create-key --mechanism aes-gcm
kmc --vault "$VG" protector list >"$T/list.txt" 2>/dev/null
check "protector list shows aes-gcm" grep -Eq '^1 +pkcs11 +aes-gcm pkcs11:token=alpha;object=gcm-key' "$T/list.txt"
t "password set through the aes-gcm slot" \
	kmc --vault "$VG" password set db --password-file "$PW" --pin-file "$PINF"
t_out "password get through the aes-gcm slot" 'db password 1' \
	kmc --vault "$VG" password get db --pin-file "$PINF"

check "pkcs11-tool makes an RSA 2048 key pair on alpha" \
	p11tool alpha "$PIN_A" --keypairgen --key-type rsa:2048 --label rsa-key --id 02 --usage-decrypt
VR=$T/vr
t "init with an RSA token key and --mechanism rsa-oaep" \
	kmc --vault "$VR" init --protector pkcs11 --pkcs11-uri "$(uri alpha rsa-key)" \
	--pin-file "$PINF" --mechanism rsa-oaep
kmc --vault "$VR" protector list >"$T/list.txt" 2>/dev/null
check "protector list shows rsa-oaep-sha1 (SoftHSM2 2.6 takes SHA-1 only)" \
	grep -Eq '^1 +pkcs11 +rsa-oaep-sha1 ' "$T/list.txt"
t "password set through the RSA slot" \
	kmc --vault "$VR" password set db --password-file "$PW" --pin-file "$PINF"
t_out "password get through the RSA slot" 'db password 1' \
	kmc --vault "$VR" password get db --pin-file "$PINF"
VR2=$T/vr2
t "init with the RSA key and no --mechanism" \
	kmc --vault "$VR2" init --protector pkcs11 --pkcs11-uri "$(uri alpha rsa-key)" --pin-file "$PINF"
kmc --vault "$VR2" protector list >"$T/list.txt" 2>/dev/null
check "... chooses rsa-oaep-sha1 by itself" grep -Eq '^1 +pkcs11 +rsa-oaep-sha1 ' "$T/list.txt"
t_out "... and opens" '' kmc --vault "$VR2" list --pin-file "$PINF"

check "pkcs11-tool makes an extractable AES key on alpha" \
	p11tool alpha "$PIN_A" --keygen --key-type AES:32 --label ext-key --id 03 --extractable
check "the key check above tells this extractable key apart" \
	not key_stays_inside alpha "$PIN_A" ext-key
VX=$T/vx
t_err 9 "an extractable AES key is refused (exit 9) saying extractable" "extractable" \
	kmc --vault "$VX" init --protector pkcs11 --pkcs11-uri "$(uri alpha ext-key)" --pin-file "$PINF"
check "... and no vault was made" test ! -e "$VX"

# ---- refusals that change nothing -------------------------------------------------------------
# Each is tried twice: as an init (no directory may appear) and as a
# protector add to the host vault H (its files must stay byte for byte).

objects alpha "$PIN_A" >"$T/objects.before"
tokens_same() { # the token holds the same objects as before the refusals
	objects alpha "$PIN_A" >"$T/objects.now"
	diff "$T/objects.before" "$T/objects.now" >&2
}
# refused CODE WHAT REGEX URI [OPTIONS...]
refused() {
	local code=$1 what=$2 re=$3 u=$4 before
	shift 4
	rm -rf "$T/vnew"
	t_err "$code" "$what: init exits $code" "$re" \
		kmc --vault "$T/vnew" init --protector pkcs11 --pkcs11-uri "$u" "$@"
	check "$what: init left no vault" test ! -e "$T/vnew"
	before=$(snapshot "$H")
	t_err "$code" "$what: protector add exits $code" "$re" \
		kmc --vault "$H" protector add pkcs11 --pkcs11-uri "$u" "$@"
	check "$what: the host vault is unchanged" test "$before" = "$(snapshot "$H")"
}
# A real module file, but outside the trees modules load from.
mkdir -m 700 "$T/lib"
cp "$MOD" "$T/lib/libsofthsm2.so"

refused 7 "module-path to a missing file" "PKCS#11 module /usr/lib/no-such-pkcs11\.so: No such file" \
	"pkcs11:token=alpha;object=k?module-path=/usr/lib/no-such-pkcs11.so" --pin-file "$PINF" --create-key
# The refusal names every tree a module may load from, /usr/lib64 (where
# RHEL keeps its modules) among them: the operator moves the module there.
refused 7 "a module copied outside the allowed trees" \
	"outside the trees modules may load from \(/usr/lib, /usr/lib64, /usr/local/lib, /lib, /opt\)" \
	"pkcs11:token=alpha;object=k?module-path=$T/lib/libsofthsm2.so" --pin-file "$PINF" --create-key
check "kmc protector add --help names the same trees" \
	bash -c '"$1" protector add --help | tr -s " \n" "  " | grep -q "load only from /usr/lib, /usr/lib64, /usr/local/lib, /lib or /opt"' _ "$KMC"
refused 7 "a module path that climbs out of /usr/lib" "outside the trees" \
	"pkcs11:token=alpha;object=k?module-path=/usr/lib/../..$T/lib/libsofthsm2.so" \
	--pin-file "$PINF" --create-key
refused 7 "a token that is not there (wrong label)" "no token matching .*token=no-such-token" \
	"$(uri no-such-token k)" --pin-file "$PINF" --create-key
refused 3 "a wrong PIN" "token alpha: wrong PIN" \
	"$(uri alpha new-key)" --pin-file "$BADPIN" --create-key
refused 7 "a key that is not there, without --create-key" "no key matching .*--create-key" \
	"$(uri alpha no-such-key)" --pin-file "$PINF"
refused 9 "an extractable key" "extractable" "$(uri alpha ext-key)" --pin-file "$PINF"
check "none of these refusals left an object on the token" tokens_same
# A mechanism name kmc does not know is a usage error, found before the
# token is touched; and a --create-key refused for its mechanism makes
# no key either.
refused 2 "an unknown --mechanism" "mechanism" \
	"$(uri alpha mech-key)" --pin-file "$PINF" --create-key --mechanism no-such-mech
check "... and no key was made on the token for it" tokens_same
objects alpha "$PIN_A" >"$T/objects.before"
refused 9 "--create-key with --mechanism rsa-oaep (kmc makes AES keys only)" "rsa-oaep" \
	"$(uri alpha rsa-made-key)" --pin-file "$PINF" --create-key --mechanism rsa-oaep
check "... and no key was made on the token for it" tokens_same

# The form `kmc protector add --help` shows: ?module-path= in the query.
check "the help shows module-path in the query part" \
	sh -c "'$KMC' protector add --help | grep -q 'object=K\[?module-path=P\]'"
before=$(snapshot "$H")
t "the URI form the help shows ('pkcs11:token=T;object=K?module-path=P') works" \
	timeout 60 setsid -w "$KMC" --vault "$H" protector add pkcs11 \
	--pkcs11-uri "pkcs11:token=alpha;object=help-key?module-path=$MOD" --pin-file "$PINF" --create-key
[ "$before" = "$(snapshot "$H")" ] || kmc --vault "$H" protector remove 3 2>/dev/null

# ---- a locked PIN ---------------------------------------------------------------------------------
# SoftHSM2 2.6 never locks a PIN: a wrong one only raises "count low". Try
# wrong PINs as a real token would count them, then, as SoftHSM never
# gets there, set the token's CKF_USER_PIN_LOCKED flag in its object
# store, which is what a token that counted them would report.

PIN_L=lock-pin-2288
LPINF=$T/pin.lock
secret_file "$LPINF" "$PIN_L"
new_token locktok "$PIN_L"
VL=$T/vl
kmc --vault "$VL" init --protector pkcs11 --pkcs11-uri "$(uri locktok k)" --pin-file "$LPINF" \
	--create-key 2>/dev/null
kmc --vault "$VL" password set db --password-file "$PW" --pin-file "$LPINF" 2>/dev/null
locked_by_tries=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if kmc --vault "$VL" password get db --pin-file "$BADPIN" 2>&1 | grep -q locked; then
		locked_by_tries=1
		break
	fi
done
if [ "$locked_by_tries" = 0 ]; then
	echo "# SoftHSM2 did not lock the PIN after 10 wrong ones: setting CKF_USER_PIN_LOCKED in its store"
	perl -0777 -i -pe 's/(\x00{4}\x80\x00\x53\x4b\x00{7}\x02)(.{8})/$1.pack("Q>", unpack("Q>", $2) | 0x40000)/se' \
		"$(token_dir locktok)/token.object"
fi
check "the token reports its user PIN locked" \
	bash -c 'pkcs11-tool --module "$1" -L 2>/dev/null | grep -A4 "token label *: locktok$" |
		grep -q "token flags.*user PIN locked"' _ "$MOD"
before=$(snapshot "$VL")
t_err 3 "a locked PIN: password get exits 3 saying locked" "token locktok: the user PIN is locked" \
	kmc --vault "$VL" password get db --pin-file "$LPINF"
t_err 3 "a locked PIN: password set exits 3 saying locked" "user PIN is locked" \
	kmc --vault "$VL" password set db --password-file "$PW" --pin-file "$LPINF"
check "a locked PIN changed nothing in the vault" test "$before" = "$(snapshot "$VL")"
refused 3 "a locked PIN" "user PIN is locked" "$(uri locktok k2)" --pin-file "$LPINF" --create-key

# ---- a replacement token with a key of the same name ------------------------------------------------
# The original token is taken out of the store; a new one with the same
# token label and a key of the same label (another value) takes its place.

t "password set on the aes-gcm vault before the swap" \
	kmc --vault "$VG" password set db --password-file "$PW" --pin-file "$PINF"
ORIG=$(token_dir alpha)
mv "$ORIG" "$T/aside/"
new_token alpha "$PIN_A"
check "the replacement token alpha makes a same-named vault-key (sensitive, not extractable)" \
	p11tool alpha "$PIN_A" --keygen --key-type AES:32 --label vault-key --id 01 --sensitive
check "... a same-named gcm-key" \
	p11tool alpha "$PIN_A" --keygen --key-type AES:32 --label gcm-key --id 04 --sensitive
check "... and a same-named RSA rsa-key" \
	p11tool alpha "$PIN_A" --keypairgen --key-type rsa:2048 --label rsa-key --id 02 --usage-decrypt
while read -r vv mech; do
	before=$(snapshot "$vv")
	t_err 7 "a same-named key on another token ($mech): exit 7, the key does not fit the slot" \
		"another key of the same name" kmc --vault "$vv" password get db --pin-file "$PINF"
	check "... ($mech) and nothing changed" test "$before" = "$(snapshot "$vv")"
done <<EOF
$V aes-cbc
$VG aes-gcm
$VR rsa-oaep
EOF
rm -rf "$(token_dir alpha)"
mv "$T/aside/$(basename "$ORIG")" "$T/tokens/"
t_out "with the original token back, the vault opens again" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$PINF"

# ---- several protectors ------------------------------------------------------------------------------

t "protector add passphrase to the pkcs11 vault (opened with the PIN)" \
	kmc --vault "$V" protector add passphrase --passphrase-file "$PP" --argon2-ops 1 \
	--argon2-mem 8 --pin-file "$PINF"
t "protector add recovery prints the key" kmc --vault "$V" protector add recovery --pin-file "$PINF"
keep
REC=$T/recovery
(umask 077 && cp "$LAST_OUT" "$REC")
check "the recovery key is 8 groups of 6 symbols" \
	grep -Eqx '([0-9A-Z]{6}-){7}[0-9A-Z]{6}' "$REC"
check "... and stderr says it is protector 3, shown once" grep -q "recovery key of protector 3" "$LAST_ERR"
kmc --vault "$V" protector list --json >"$T/list.json" 2>/dev/null
check "protector list --json is valid JSON: ids 1, 2, 3 of types pkcs11, passphrase, recovery" \
	jq -e 'map({id, type}) == [{"id":1,"type":"pkcs11"},{"id":2,"type":"passphrase"},
		{"id":3,"type":"recovery"}] and all(.[]; .detail | type == "string")' "$T/list.json"

t_out "a wrong PIN: the passphrase opens the vault instead" 'db password 1' \
	kmc --vault "$V" password get db --pin-file "$BADPIN" --passphrase-file "$PP"
keep
check "... and stderr names the protector that failed and the one that opened it" \
	grep -Eq "opened .* with protector 2 after: protector 1 \(pkcs11\): token alpha: wrong PIN" "$LAST_ERR"
t_err 3 "a wrong PIN and a wrong passphrase: exit 3 naming both" \
	"protector 1 \(pkcs11\): token alpha: wrong PIN.*protector 2 \(passphrase\): wrong passphrase" \
	kmc --vault "$V" password get db --pin-file "$BADPIN" --passphrase-file "$BADPIN"

t_out "the recovery key opens the vault (--recovery-file)" 'db password 1' \
	kmc --vault "$V" password get db --recovery-file "$REC"
keep
check "... and stderr says protector 3 opened it" grep -q "with protector 3 after" "$LAST_ERR"
REC_LOW=$T/recovery.low
(umask 077 && tr 'A-Z-' 'a-z ' <"$REC" >"$REC_LOW")
t_out "the recovery key in lower case with spaces opens the vault" 'db password 1' \
	kmc --vault "$V" password get db --recovery-file "$REC_LOW"
REC_BAD=$T/recovery.bad
# One symbol of group 3 (offset 15) replaced by another.
c=$(cut -c16 "$REC")
[ "$c" = 7 ] && d=8 || d=7
(umask 077 && sed "s/^\(.\{15\}\)./\1$d/" "$REC" >"$REC_BAD")
check "the mistyped key differs from the real one in one symbol" \
	test "$(cmp -l "$REC" "$REC_BAD" | wc -l)" = 1
before=$(snapshot "$V")
t_err 2 "a one-symbol typo in the recovery key is refused naming group 3" \
	"group 3 of the recovery key does not check" \
	kmc --vault "$V" password get db --recovery-file "$REC_BAD"
check "... and nothing changed" test "$before" = "$(snapshot "$V")"

before=$(snapshot "$VG")
t_err 1 "protector remove of the last protector is refused" "last one" \
	kmc --vault "$VG" protector remove 1 --pin-file "$PINF"
check "... and nothing changed" test "$before" = "$(snapshot "$VG")"
t_rc 7 "protector remove of an id that is not there: exit 7" \
	kmc --vault "$V" protector remove 9 --pin-file "$PINF"
t "protector remove of the pkcs11 protector (opened with the PIN)" \
	kmc --vault "$V" protector remove 1 --pin-file "$PINF"
kmc --vault "$V" protector list --json >"$T/list.json" 2>/dev/null
check "protector list --json: passphrase 2 and recovery 3 are left" \
	jq -e 'map({id, type}) == [{"id":2,"type":"passphrase"},{"id":3,"type":"recovery"}]' "$T/list.json"
t_out "the passphrase still opens the vault" 'db password 1' \
	kmc --vault "$V" password get db --passphrase-file "$PP"
keep
check "... with no word about a token" bash -c '! grep -qi -e pkcs11 -e token "$1"' _ "$LAST_ERR"
t_out "the recovery key still opens the vault" 'db password 1' \
	kmc --vault "$V" password get db --recovery-file "$REC"
t_out "the passphrase opens it with no token store at all" 'db password 1' \
	env SOFTHSM2_CONF=/nonexistent setsid -w "$KMC" --vault "$V" password get db --passphrase-file "$PP"

# ---- one process: fork, and many opens ---------------------------------------------------------------

FORK=$T/p11_fork
# shellcheck disable=SC2046
check "the p11_fork helper builds" kmc_cc "$FORK" "$KMC_TOP/tests/e2e/p11_fork.c"
VF=$T/vf
kmc --vault "$VF" init --protector pkcs11 --pkcs11-uri "$(uri alpha fork-key)" --pin-file "$PINF" \
	--create-key 2>/dev/null
kmc --vault "$VF" password set db --password-file "$PW" --pin-file "$PINF" 2>/dev/null
if [ -x "$FORK" ]; then
	t "fork: parent opens and reads, the child opens again and reads, the parent reads again" \
		timeout 120 "$FORK" fork "$VF" db 'db password 1' "$PINF"
	keep
	check "... the child and the parent both report ok" \
		bash -c 'grep -qx "child: ok" "$1" && grep -qx "parent: ok" "$1"' _ "$LAST_OUT"
	check "... and every open went through the token (protector 1)" \
		bash -c '[ "$(grep -c "^open [0-9]*: protector 1$" "$1")" = 3 ] && ! grep -q after "$1"' _ "$LAST_OUT"
	t "50 rounds of kmc_vault_open_ex + get + close in one process through the token" \
		timeout 120 "$FORK" loop "$VF" db 'db password 1' "$PINF" 50
	keep
	check "... each round opened through the token" \
		bash -c '[ "$(grep -c "^open [0-9]*: protector 1$" "$1")" = 50 ] && grep -qx "rounds: 50 ok" "$1"' _ "$LAST_OUT"
	# The session kept from one open serves the next: no new login, so a
	# wrong PIN given the second time is never read.
	t "a second open in the process reuses the token's logged-in session (a wrong PIN is not needed)" \
		timeout 120 "$FORK" reuse "$VF" db 'db password 1' "$PINF" "$BADPIN"
	keep
	check "... both opens went through the token" \
		bash -c '[ "$(grep -c "^open [0-9]*: protector 1$" "$1")" = 2 ] && grep -qx "second open: ok" "$1"' _ "$LAST_OUT"
	t "after kmc_token_sessions_close() the next open logs in again (the wrong PIN is refused)" \
		timeout 120 "$FORK" reuse "$VF" db 'db password 1' "$PINF" "$BADPIN" close
	t_err 1 "KMC_TOKEN_SESSIONS=close: no session is kept between opens (the wrong PIN is refused)" \
		'open 2: wrong PIN .*token alpha: wrong PIN' \
		env KMC_TOKEN_SESSIONS=close timeout 120 "$FORK" reuse "$VF" db 'db password 1' "$PINF" "$BADPIN"
	# The token goes away under a kept session, then comes back.
	AD=$(token_dir alpha)
	t "a token gone under a kept session: the open fails, and works again once it is back" \
		timeout 120 "$FORK" away "$VF" db 'db password 1' "$PINF" \
		"mv '$AD' '$T/aside/'" "mv '$T/aside/${AD##*/}' '$T/tokens/'"
	keep
	check "... the failure names the token that is missing" \
		grep -q '^gone: protector 1 (pkcs11): no token matching pkcs11:token=alpha' "$LAST_OUT"
	check "... and the open after it is back went through the token" \
		bash -c 'grep -qx "back: ok" "$1" && [ "$(grep -c "^open [0-9]*: protector 1$" "$1")" = 2 ]' _ "$LAST_OUT"
	check "... and the token is back in its store" test -d "$AD"
fi

# ---- p11-kit missing at run time ------------------------------------------------------------

# The library loads p11-kit only for a token protector (pkcs11/p11kit.c);
# without it a token says so by name, and nothing else needs it. ($VF has
# the token as its only protector, $V a passphrase too.)
NOP11=$T/no_p11kit.so
check "the no_p11kit shim builds" cc -shared -fPIC -o "$NOP11" "$KMC_TOP/tests/e2e/no_p11kit.c"
if [ -e "$NOP11" ]; then
	t_err 7 "no libp11-kit: opening through the token fails (exit 7) naming libp11-kit.so.0" \
		'protector 1 \(pkcs11\): .*libp11-kit\.so\.0 does not load' \
		env LD_PRELOAD="$NOP11" setsid -w "$KMC" --vault "$VF" password get db --pin-file "$PINF"
	VN=$T/vn
	t_err 7 "no libp11-kit: init with a pkcs11 protector fails naming it" \
		"creating a vault in $VN: .*libp11-kit\.so\.0 does not load" \
		env LD_PRELOAD="$NOP11" setsid -w "$KMC" --vault "$VN" init --protector pkcs11 \
		--pkcs11-uri "$(uri alpha vn-key)" --pin-file "$PINF" --create-key
	check "... and leaves no vault behind" test ! -e "$VN"
	t_out "no libp11-kit: the same vault still opens with its passphrase" 'db password 1' \
		env LD_PRELOAD="$NOP11" setsid -w "$KMC" --vault "$V" password get db --passphrase-file "$PP"
fi

done_testing
