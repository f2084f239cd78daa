#!/usr/bin/env bash
# test_cert_check.sh - certificates over time: kmc cert check against a
# PKI made here with the openssl command (a CA good for ten years, a
# server certificate good for 10 days with a CRL due in 5, one good for
# 400 days, one good for 1 day); its exit codes 0 and 11, the --within
# boundaries to the day, --json checked with jq, garbage horizons, a
# read-only run beside a writer, no prompt on a terminal, the nearest
# expiry in kmc status, and what kmc cert info says of dates.
#
# An expired certificate cannot be imported: one signed for 2020 goes in
# through tests/e2e/item_put.c (kmc_item_put(), which checks no dates),
# as does a damaged item. Other dates are judged against a horizon. No
# check depends on how long a command takes: boundaries are whole days
# apart, and a check at most a second after signing sees N or N-1 days.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
jqt() { jq -e "$2" "$1" >/dev/null; }
# ossl: openssl, quiet unless it fails (then its output goes to stderr).
ossl() { openssl "$@" >"$T/.ossl" 2>&1 || { cat "$T/.ossl" >&2; return 1; }; }
# lines FILE N: FILE has exactly N lines.
lines() { [ "$(wc -l <"$1")" -eq "$2" ] || { cat "$1" >&2; false; }; }
# check empties $OUT before it runs: keep the last command's stdout in $O.
O=$T/o
keep() { cp "$OUT" "$O"; }

# ---- material ---------------------------------------------------------------

P=$T/pki
mkdir -m 700 "$P"
cat >"$P/ca.cnf" <<'CNF'
[ ca ]
default_ca = expiry_test_ca
[ expiry_test_ca ]
dir = .
database = index.txt
new_certs_dir = .
certificate = ca.crt
private_key = ca.key
serial = serial
crlnumber = crlnumber
default_md = sha256
policy = any
[ any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
CNF
: >"$P/index.txt"
echo 1000 >"$P/serial"
echo 1000 >"$P/crlnumber"
# server DAYS: s<DAYS>.key (plain, 0600) and s<DAYS>.crt, CN=server<DAYS>,
# good for DAYS days from now.
server() {
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/s$1.key" &&
		chmod 600 "$P/s$1.key" &&
		ossl req -new -key "$P/s$1.key" -subj "/CN=server$1" -out "$P/s$1.csr" &&
		ossl x509 -req -in "$P/s$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
			-CAcreateserial -days "$1" -extfile "$P/ca.cnf" -extensions server \
			-out "$P/s$1.crt"
}
check "openssl makes a CA good for 3650 days" bash -c '
	cd "$1" && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out ca.key >/dev/null 2>&1 &&
	openssl req -new -x509 -key ca.key -out ca.crt -days 3650 \
		-subj "/CN=expiry test CA" -config ca.cnf -extensions v3_ca' _ "$P"
check "... a server certificate good for 10 days" server 10
check "... one good for 400 days" server 400
check "... one good for 1 day" server 1
check "... and a CRL whose next update is in 5 days" bash -c '
	cd "$1" && openssl ca -config ca.cnf -gencrl -crldays 5 -out ca.crl >/dev/null 2>&1' _ "$P"

# ---- an empty vault -----------------------------------------------------------

t "a vault" kmc init
t_out "cert check on a vault without bundles: exit 0, nothing printed" '' kmc cert check
t_out "... --json: an empty array" '[]' kmc cert check --json
t "kmc status on it: exit 0" kmc status
keep
check "... nearest expiry: none" grep -qx 'nearest expiry none: no imported certificates' "$O"
t "kmc status --json" kmc status --json
keep
check "... expiry_checked, no note, nearest_expiry null" jqt "$O" \
	'.expiry_checked == true and .expiry_note == "" and .nearest_expiry == null'
t "kmc cert check --help" kmc cert check --help
keep
check "... names --within and exit 11" bash -c 'grep -q -- --within "$1" && grep -q 11 "$1"' _ "$O"

# ---- two bundles ----------------------------------------------------------------

t "import b10: a server certificate good for 10 days, a CRL due in 5" \
	kmc import --name b10 -c "$P/ca.crt" -s "$P/s10.crt" -k "$P/s10.key" -r "$P/ca.crl"
t "import b400: good for 400 days, no CRL" \
	kmc import --name b400 -c "$P/ca.crt" -s "$P/s400.crt" -k "$P/s400.key"

t_err 11 "the default horizon (30 days): exit 11, the count on stderr" \
	'^kmc: 2 of 5 certificates and CRLs are expired or due within 30 days$' kmc cert check
cp "$OUT" "$T/due30"
check "... one line per due item on stdout: the certificate and the CRL" lines "$T/due30" 2
end10=$(date -u -d "$(openssl x509 -in "$P/s10.crt" -noout -enddate | cut -d= -f2)" +%FT%TZ)
next5=$(date -u -d "$(openssl crl -in "$P/ca.crl" -noout -nextupdate | cut -d= -f2)" +%FT%TZ)
check "... the certificate's line names the item, its subject and its date" \
	grep -Eqx "b10/cert: certificate CN=server10 expires $end10 \(in (9|10) days\)" "$T/due30"
check "... the CRL's line names the item, its issuer and its next update" \
	grep -Eqx "b10/crl: crl of CN=expiry test CA next update $next5 \(in (4|5) days\)" "$T/due30"

# Boundaries: due when it runs out within DAYS x 24 h; made "-days N" a
# moment ago, a certificate has a little less than N days left.
t_out "--within 4: nothing due, exit 0, nothing printed" '' kmc cert check --within 4
t_rc 11 "--within 5: the CRL (next update in 5 days) is due" kmc cert check --within 5
keep
check "... it alone" bash -c 'grep -q "^b10/crl: " "$1" && [ "$(wc -l <"$1")" -eq 1 ]' _ "$O"
t_rc 11 "--within 9: still the CRL alone" kmc cert check --within 9
keep
check "... one line" lines "$O" 1
t_rc 11 "--within 10: the 10-day certificate too" kmc cert check --within 10
keep
check "... two lines" lines "$O" 2
t_rc 11 "--within 399: not the 400-day certificate" kmc cert check --within 399
keep
check "... two lines" lines "$O" 2
t_rc 11 "--within 400: the 400-day certificate too" kmc cert check --within 400
keep
check "... b400/cert is named" grep -q '^b400/cert: certificate CN=server400 expires ' "$O"
t_rc 11 "--within 36500: the CA certificates (3650 days) too, all five" kmc cert check --within 36500
keep
check "... five lines" lines "$O" 5
check "... the CA is named as such" grep -q '^b400/ca: ca CN=expiry test CA expires ' "$O"
t_out "--within 0: nothing has expired, exit 0" '' kmc cert check --within 0
t_out "--within=4 works as --within 4" '' kmc cert check --within=4
t_out "--within 0004 is 4 days" '' kmc cert check --within 0004

# A certificate good for one day: not expired (--within 0), due within
# a day (--within 1), where nothing else is.
t "import b1: a certificate good for 1 day" \
	kmc import --name b1 -c "$P/ca.crt" -s "$P/s1.crt" -k "$P/s1.key"
t_out "b1 --within 0: not expired yet, exit 0" '' kmc cert check --within 0
t_rc 11 "b1 --within 1: due" kmc cert check --within 1
keep
check "... b1/cert alone, a day or less left" \
	grep -Eqx "b1/cert: certificate CN=server1 expires .* \(in (1 day|less than a day)\)" "$O"
check "... one line" lines "$O" 1
t "rm b1" kmc rm b1

# ---- --within garbage --------------------------------------------------------

t_err 2 "--within abc is refused (exit 2), the message naming the option, range and value" \
	"^kmc: cert check: --within takes a number of days from 0 to 36500, not 'abc'\$" \
	kmc cert check --within abc
for w in -1 36501 99999999999999999999999 '' ' 5' +5 3.5 0x10; do
	t_err 2 "--within '$w' is refused (exit 2)" \
		"^kmc: cert check: --within takes a number of days from 0 to 36500, not '.*'\$" \
		kmc cert check --within "$w"
done
t_err 2 "--within without a value" 'needs a value' kmc cert check --within
t_err 2 "--within given twice" '--within given twice' kmc cert check --within 1 --within 2
t_rc 2 "an operand is refused" kmc cert check b10
t_err 2 "cert info does not take --within" 'does not take --within' kmc cert info b10 --within 3

# ---- --json ------------------------------------------------------------------------

t_rc 11 "--json: exit 11 as the text" kmc cert check --json
cp "$OUT" "$T/j"
check "... one JSON array (jq) and nothing else" jqt "$T/j" 'type == "array"'
check "... no line for people on stdout" bash -c '! grep -q "^b10/" "$1"' _ "$T/j"
check "... five entries, bundles in name order, each in item order" jqt "$T/j" \
	'map(.item) == ["b10/cert", "b10/ca", "b10/crl", "b400/cert", "b400/ca"]'
check "... every entry has every documented field, of its type" jqt "$T/j" 'all(.[];
	(.bundle | type == "string") and (.item | type == "string") and
	(.kind | type == "string") and (.index | type == "number") and
	(.subject | type == "string") and (.not_before | type == "string") and
	(.not_after | type == "string") and (.expires | type == "number") and
	(.days_left | type == "number") and (.state | type == "string") and
	(.due | type == "boolean"))'
check "... kinds: certificate, ca, crl" jqt "$T/j" \
	'map(.kind) == ["certificate", "ca", "crl", "certificate", "ca"]'
check "... states: the 10-day certificate and the CRL due, the rest ok" jqt "$T/j" \
	'map(.state) == ["due", "ok", "due", "ok", "ok"] and map(.due) == [true, false, true, false, false]'
check "... b10/cert: its subject, not_after, expires in ms, 9 or 10 days left" jqt "$T/j" \
	".[0] | .bundle == \"b10\" and .subject == \"CN=server10\" and .index == 0 and
	 .not_after == \"$end10\" and (.expires == (\"$end10\" | fromdate) * 1000) and
	 (.days_left == 9 or .days_left == 10)"
check "... b10/crl: its issuer and its next update" jqt "$T/j" \
	".[2] | .subject == \"CN=expiry test CA\" and .not_after == \"$next5\""
t_rc 0 "--json --within 4: exit 0, all five listed, none due" kmc cert check --json --within 4
keep
check "... none due" jqt "$O" 'length == 5 and all(.[]; .due == false and .state == "ok")'

# ---- kmc status: the nearest expiry ------------------------------------------------

t "kmc status: exit 0 (a date is never a status failure)" kmc status
keep
check "... the nearest expiry: the CRL, its next update, the days left" \
	grep -Eqx "nearest expiry b10/crl crl $next5 \(in (4|5) days\)" "$O"
t "kmc status --json" kmc status --json
keep
check "... nearest_expiry: item, kind, subject, dates, days left, state" jqt "$O" \
	".expiry_checked == true and .expiry_note == \"\" and (.nearest_expiry |
	 .item == \"b10/crl\" and .kind == \"crl\" and .subject == \"CN=expiry test CA\" and
	 .not_after == \"$next5\" and .expires == (\"$next5\" | fromdate) * 1000 and
	 (.days_left == 4 or .days_left == 5) and .state == \"due\")"
cp -a "$V" "$T/v4"
printf '\377' | dd of="$T/v4/StandbyKsf.ks" bs=1 seek=100 conv=notrunc 2>/dev/null
t_rc 4 "a damaged StandbyKsf.ks: kmc status still exits 4" "$KMC" --vault "$T/v4" status
keep
check "... and still shows the nearest expiry (kmc.ks is ok)" grep -q '^nearest expiry b10/crl ' "$O"

# ---- kmc cert info: NuoDB's field names, dates judged ---------------------------

t "cert info b10 --json" kmc cert info b10 --json
keep
check "... subjectName, issuerName and certificatePem beside subject, issuer, pem" jqt "$O" \
	'.[0] | .subjectName == .subject and .issuerName == .issuer and
	 .certificatePem == .pem and .subjectName == "CN=server10" and
	 .issuerName == "CN=expiry test CA" and (.certificatePem | startswith("-----BEGIN CERTIFICATE-----"))'
check "... expires: not_after in ms since the epoch" jqt "$O" \
	".[0] | .expires == (.not_after | fromdate) * 1000 and .not_after == \"$end10\""
t "cert info b10 (text)" kmc cert info b10
keep
check "... a valid certificate is not called expired or not yet valid" \
	bash -c '! grep -Eq "expired|not valid yet" "$1"' _ "$O"
check "openssl ca signs a certificate valid only from 2099" bash -c '
	cd "$1" && openssl ca -config ca.cnf -batch -notext -startdate 20990101000000Z \
		-enddate 21000101000000Z -extensions server -in s400.csr -out future.crt >/dev/null 2>&1' _ "$P"
t "cert info of it (a file)" kmc cert info "$P/future.crt"
keep
check "... says it is not valid yet, and from when" \
	grep -Eqx '  not before  2099-01-01T00:00:00Z \(not valid yet: valid in [0-9]+ days\)' "$O"
check "... and not that it expired" bash -c '! grep -q expired "$1"' _ "$O"

# ---- read-only, beside a writer ---------------------------------------------------

state() { (cd "$V" && sha256sum kmc.ks StandbyKsf.ks items.mdb && find . -printf '%p %m %s\n' | sort); }
before=$(state)
# A writer holds the vault's lock (an import, a backup): readers go on.
# The lock is this shell's, on descriptor 9: no process to clean up.
exec 9<"$V"
check "the writer lock of the vault is taken (flock on its folder)" flock -n -x 9
check "... so that another writer would wait" bash -c '! flock -n -x "$1" true' _ "$V"
t_rc 11 "cert check runs while a writer holds the vault" \
	timeout 60 "$KMC" --vault "$V" cert check 9<&-
flock -u 9
exec 9<&-
check "... and the vault's files are unchanged, byte for byte" bash -c '[ "$1" = "$2" ]' _ "$before" "$(state)"

# ---- what import refuses: an expired certificate, a damaged item ------------------

# kmc import refuses both; the item_put helper stores them through the C
# API (kmc_item_put), as a vault could come to hold them over time.
PUT=$T/item_put
check "the item_put helper builds" kmc_cc "$PUT" "$KMC_TOP/tests/e2e/item_put.c"
C=$T/crafted
t "a second vault for what kmc import refuses" "$KMC" --vault "$C" init
check "openssl ca signs a certificate that expired on 2021-01-01" bash -c '
	cd "$1" && openssl ca -config ca.cnf -batch -notext -startdate 20200101000000Z \
		-enddate 20210101000000Z -extensions server -in s10.csr -out old.crt >/dev/null 2>&1' _ "$P"
printf 'keys_dir=\nconf=\n' >"$T/meta"
check "... stored with the CA as bundle old" bash -c '
	"$1" "$2" old/meta bundle "$3" && "$1" "$2" old/cert certificate "$4/old.crt" &&
	"$1" "$2" old/ca certificate "$4/ca.crt"' _ "$PUT" "$C" "$T/meta" "$P"
# Whole days since then, as kmc counts them (one more if midnight UTC
# passes between the two clocks).
ago=$(( ($(date -u +%s) - $(date -u -d 2021-01-01T00:00:00Z +%s)) / 86400 ))
t_err 11 "an expired certificate: exit 11, even --within 0" '1 of 2 certificates' \
	"$KMC" --vault "$C" cert check --within 0
keep
check "... its line says it expired, when, and how many days ago" \
	grep -Eqx "old/cert: certificate CN=server10 expired 2021-01-01T00:00:00Z \(($ago|$((ago + 1))) days ago\)" "$O"
check "... the CA (ten years) is not named" lines "$O" 1
t_rc 11 "--json: the same" "$KMC" --vault "$C" cert check --json --within 0
keep
check "... state expired, days_left negative: the days since" jqt "$O" \
	".[0] | .state == \"expired\" and .due and (.days_left == -$ago or .days_left == -$((ago + 1)))"
t "cert info old (text): the item" "$KMC" --vault "$C" cert info old
keep
check "... says it expired, N days ago" grep -Eqx "  expires     2021-01-01T00:00:00Z \(1609459200000 ms since the epoch; expired ($ago|$((ago + 1))) days ago\)" "$O"
t "cert info of an expired file, --json: the same fields" "$KMC" cert info "$P/old.crt" --json
keep
check "... expires in ms, subjectName" jqt "$O" '.[0] | .expires == 1609459200000 and .subjectName == "CN=server10"'
t "kmc status: exit 0" "$KMC" --vault "$C" status
keep
check "... nearest expiry: the expired certificate, how long ago" \
	grep -Eqx "nearest expiry old/cert certificate 2021-01-01T00:00:00Z \(expired ($ago|$((ago + 1))) days ago\)" "$O"

printf -- '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' >"$T/bad.crt"
check "a bundle zz whose certificate item is damaged (after old, by name)" bash -c '
	"$1" "$2" zz/meta bundle "$3" && "$1" "$2" zz/cert certificate "$4" &&
	"$1" "$2" zz/ca certificate "$5/ca.crt"' _ "$PUT" "$C" "$T/meta" "$T/bad.crt" "$P"
t_err 4 "a damaged item fails the check (exit 4), naming it" \
	'^kmc: checking the certificates of .*: item zz/cert: truncated or damaged PEM certificate' \
	"$KMC" --vault "$C" cert check
keep
check "... and no partial report: old, checked before it, is not printed" test ! -s "$O"
t_rc 4 "... --json: exit 4 too" "$KMC" --vault "$C" cert check --json
keep
check "... and no half JSON document" test ! -s "$O"
t "kmc status with the damaged item: exit 0 still" "$KMC" --vault "$C" status
keep
check "... the dates not checked, the item named" \
	grep -q '^nearest expiry not checked: item zz/cert: truncated or damaged' "$O"
t "kmc status --json" "$KMC" --vault "$C" status --json
keep
check "... expiry_checked false, the note naming the item, no nearest_expiry" jqt "$O" \
	'.expiry_checked == false and (.expiry_note | test("zz/cert")) and .nearest_expiry == null'
check "a bundle without its NAME/cert (only meta and ca)" bash -c '
	"$1" "$2" nocert/meta bundle "$3" && "$1" "$2" nocert/ca certificate "$4/ca.crt"' \
	_ "$PUT" "$C" "$T/meta" "$P"
t_err 4 "... fails the check, naming the missing item" 'bundle nocert has no item nocert/cert' \
	"$KMC" --vault "$C" cert check
t "rm nocert and zz" bash -c '"$1" --vault "$2" rm nocert && "$1" --vault "$2" rm zz' _ "$KMC" "$C"

# ---- never a prompt -----------------------------------------------------------------

secret_file "$T/pp" 'the vault passphrase'
t "a passphrase vault (Argon2id 1 pass, 8 MiB)" "$KMC" --vault "$T/pv" init \
	--protector passphrase --passphrase-file "$T/pp" --argon2-ops 1 --argon2-mem 8
t_err 3 "a passphrase vault without --passphrase-file: exit 3 at once, naming the options" \
	'never asks, give --passphrase-file' "$KMC" --vault "$T/pv" cert check
if command -v script >/dev/null; then
	# On a terminal too: any other command would ask there.
	t_rc 3 "... on a terminal too (script): exit 3, no prompt" timeout 60 \
		script -qec "$(printf '%q ' "$KMC" --vault "$T/pv" cert check)" /dev/null
	keep
	check "... it said why instead of asking" grep -q 'never asks' "$O"
	check "... and asked nothing" bash -c '! grep -qi "passphrase for" "$1"' _ "$O"
fi
t_out "... with --passphrase-file: checked (no bundles)" '' \
	"$KMC" --vault "$T/pv" cert check --passphrase-file "$T/pp"
t "kmc status on it, empty: none (the item count needs no key)" "$KMC" --vault "$T/pv" status
keep
check "... nearest expiry: none" grep -qx 'nearest expiry none: no imported certificates' "$O"
secret_file "$T/pw" 'an item password'
t "... an item in it" "$KMC" --vault "$T/pv" password set db --passphrase-file "$T/pp" \
	--password-file "$T/pw"
t "kmc status on the passphrase vault with an item: exit 0, nothing asked" \
	"$KMC" --vault "$T/pv" status
keep
check "... the dates not checked: it needs the key" \
	grep -qx 'nearest expiry not checked: needs the key (kmc cert check)' "$O"
t "kmc status --json" "$KMC" --vault "$T/pv" status --json
keep
check "... expiry_checked false, nearest_expiry null" jqt "$O" \
	'.expiry_checked == false and .expiry_note != "" and .nearest_expiry == null'

done_testing
