#!/usr/bin/env bash
# test_cert_dates.sh - the dates written in certificates and CRLs: the
# forms RFC 5280 allows (UTCTime to 2049, GeneralizedTime from 2050, up to
# 9999-12-31T23:59:59Z, 2038-01-19 past a 32-bit time_t) read and shown
# as such, in UTC whatever TZ says; the forms it does not allow (UTCTime
# without seconds, a fraction, an offset, a second 60), which OpenSSL
# cannot compare with now, refused by name and form, never as "not valid
# yet" or "expired".
#
# The certificates and CRLs are made by tests/e2e/raw_dates.c, which
# writes dates byte for byte; every date is fixed (2020 is past, 2050 and
# later to come), so nothing depends on today.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
jqt() { jq -e "$2" "$1" >/dev/null; }
RAW=$T/raw_dates
# check empties $OUT before it runs: the last command's stdout goes to $O.
O=$T/o
P=$T/pki
mkdir -m 700 "$P"
check "the raw_dates helper builds" kmc_cc "$RAW" "$KMC_TOP/tests/e2e/raw_dates.c"
for k in ca leaf; do
	check "a P-256 key: $k" openssl genpkey -algorithm EC \
		-pkeyopt ec_paramgen_curve:P-256 -out "$P/$k.key"
	chmod 600 "$P/$k.key"
done
# leaf NAME NOT_BEFORE NOT_AFTER: $P/NAME.crt, CN=NAME, signed by the CA.
leaf() {
	"$RAW" cert "$P/leaf.key" "$P/ca.crt" "$P/ca.key" "$1" leaf "$2" "$3" \
		"$P/$1.crt"
}
check "a CA good from 2020 to 9999-12-31T23:59:59Z" "$RAW" cert "$P/ca.key" - \
	"$P/ca.key" "dates CA" ca U:200101000000Z G:99991231235959Z "$P/ca.crt"
t "a vault" kmc init
# The items of the vault, to show that a refusal changed nothing.
t "its items" kmc list
cp "$OUT" "$T/items0"
unchanged() { kmc list >"$T/items" && cmp -s "$T/items0" "$T/items"; }

# ---- dates RFC 5280 does not allow: refused by name ---------------------------

# bad NAME FIELD TYPE TEXT NB NA: a leaf with those dates is refused by
# import, exit 9, the message naming the file, the certificate, the field
# and what it holds; nothing is stored.
bad() {
	local name=$1 field=$2 type=$3 text=$4
	check "$name: a leaf whose $field is $type $text" leaf "$name" "$5" "$6"
	t_err 9 "... import refuses it, naming the $field and what it holds" \
		"^kmc: import refused, nothing was changed: $P/$name.crt: certificate CN=$name: its $field date \($type \"$text\"\) is not one RFC 5280 allows: " \
		kmc import --name "$name" -c "$P/ca.crt" -s "$P/$name.crt" -k "$P/leaf.key"
	check "... never as not valid yet or expired" \
		bash -c '! grep -Eq "not valid yet|expired" "$1"' _ "$LAST_ERR"
	check "... nothing stored" unchanged
}
bad noseconds notBefore UTCTime 2001010000Z U:2001010000Z G:20991231235959Z
bad leapsecond notAfter UTCTime 301231235960Z U:200101000000Z U:301231235960Z
bad fraction notBefore GeneralizedTime 20200101000000.5Z \
	G:20200101000000.5Z G:20991231235959Z
bad offset notAfter UTCTime 301231235959-0500 U:200101000000Z U:301231235959-0500

check "a CA whose notBefore is UTCTime without seconds" "$RAW" cert \
	"$P/ca.key" - "$P/ca.key" "short CA" ca U:2001010000Z G:99991231235959Z \
	"$P/shortca.crt"
t_err 9 "trust add refuses it, naming the notBefore" \
	"^kmc: trust add refused, nothing was changed: $P/shortca.crt: certificate CN=short CA: its notBefore date \(UTCTime \"2001010000Z\"\) is not one RFC 5280 allows" \
	kmc trust add short "$P/shortca.crt"
check "... nothing stored" unchanged

check "a leaf good to 2099" leaf good U:200101000000Z G:20991231235959Z
check "a CRL whose nextUpdate has a fraction" "$RAW" crl "$P/ca.crt" \
	"$P/ca.key" U:200101000000Z G:20991231235959.25Z "$P/frac.crl"
t_err 9 "import -r refuses it, naming the CRL and its nextUpdate" \
	"^kmc: import refused, nothing was changed: $P/frac.crl: its nextUpdate date \(GeneralizedTime \"20991231235959.25Z\"\) is not one RFC 5280 allows" \
	kmc import --name good -c "$P/ca.crt" -s "$P/good.crt" -k "$P/leaf.key" -r "$P/frac.crl"
check "... not as out of date" bash -c '! grep -q "out of date" "$1"' _ "$LAST_ERR"
check "... nothing stored" unchanged
check "a CRL whose thisUpdate has an offset" "$RAW" crl "$P/ca.crt" \
	"$P/ca.key" U:200101000000+0100 G:20991231235959Z "$P/offset.crl"
t_err 9 "trust add --crl refuses it, naming the CRL and its thisUpdate" \
	"^kmc: trust add refused, nothing was changed: $P/offset.crl: its thisUpdate date \(UTCTime \"200101000000\+0100\"\) is not one RFC 5280 allows" \
	kmc trust add dates "$P/ca.crt" --crl "$P/offset.crl"
check "... not as not valid yet" bash -c '! grep -q "not valid yet" "$1"' _ "$LAST_ERR"
check "... nothing stored" unchanged

# ---- cert info: a date that does not read is refused, not shown as 1970 -----

t_err 2 "cert info FILE, its notAfter a second 60: exit 2, naming the file, certificate, field" \
	"^kmc: cert info: $P/leapsecond.crt: certificate 1 \(CN=leapsecond\): its notAfter date \(UTCTime \"301231235960Z\"\) does not read as a date\$" \
	kmc cert info "$P/leapsecond.crt"
cp "$OUT" "$O"
check "... nothing on stdout (no 1970)" test ! -s "$O"
t_rc 2 "... --json: exit 2 too" kmc cert info "$P/leapsecond.crt" --json
cp "$OUT" "$O"
check "... nothing on stdout" test ! -s "$O"
# kmc_item_put() checks no dates: a vault could come to hold one.
PUT=$T/item_put
check "the item_put helper builds" kmc_cc "$PUT" "$KMC_TOP/tests/e2e/item_put.c"
check "a certificate item whose notAfter is a second 60" \
	"$PUT" "$V" loose certificate "$P/leapsecond.crt"
t_err 4 "cert info ITEM: exit 4 (damaged), naming the item and field" \
	"^kmc: cert info: loose: certificate 1 \(CN=leapsecond\): its notAfter date \(UTCTime \"301231235960Z\"\) does not read as a date\$" \
	kmc cert info loose
t "rm loose" kmc rm loose
check "a fraction reads: cert info shows the second it falls in" leaf frac2 \
	G:20200101000000.5Z G:20991231235959.999Z
t "... cert info FILE" kmc cert info "$P/frac2.crt"
cp "$OUT" "$O"
check "... not before 2020-01-01T00:00:00Z, expires 2099-12-31T23:59:59Z" bash -c '
	grep -qx "  not before  2020-01-01T00:00:00Z" "$1" &&
	grep -q "^  expires     2099-12-31T23:59:59Z (" "$1"' _ "$O"

# ---- dates RFC 5280 allows: read and shown as written, in UTC ---------------

# good NAME NA WANT: a leaf good from 2020 to NA imports; cert info and
# cert check --json show its end as WANT, whatever TZ says.
good() {
	check "$1: a leaf good to $3" leaf "$1" U:200101000000Z "$2"
	t "... imports" kmc import --name "$1" -c "$P/ca.crt" -s "$P/$1.crt" -k "$P/leaf.key"
	t "... cert info --json" kmc cert info "$1" --json
	cp "$OUT" "$T/$1.json"
	check "... its not_after and expires" jqt "$T/$1.json" \
		".[0] | .not_before == \"2020-01-01T00:00:00Z\" and .not_after == \"$3\" and
		 .expires == (\"$3\" | fromdate) * 1000"
}
good y2038 U:380119031408Z 2038-01-19T03:14:08Z
good last-utctime U:491231235959Z 2049-12-31T23:59:59Z
good first-generalized G:20500101000000Z 2050-01-01T00:00:00Z
good last-day G:99991231235959Z 9999-12-31T23:59:59Z
t_rc 11 "cert check --json --within 36500" kmc cert check --json --within 36500
cp "$OUT" "$T/check.json"
check "... each end as written, 9999's ok, the rest due" jqt "$T/check.json" '
	map(select(.kind == "certificate") | [.item, .not_after, .state]) == [
	 ["first-generalized/cert", "2050-01-01T00:00:00Z", "due"],
	 ["last-day/cert", "9999-12-31T23:59:59Z", "ok"],
	 ["last-utctime/cert", "2049-12-31T23:59:59Z", "due"],
	 ["y2038/cert", "2038-01-19T03:14:08Z", "due"]]'
for tz in America/New_York Asia/Kolkata junk/Zone+3 ''; do
	t "TZ='$tz': cert info, text" env TZ="$tz" "$KMC" --vault "$V" cert info last-day
	cp "$OUT" "$O"
	check "... dates in UTC as ever" bash -c '
		grep -qx "  not before  2020-01-01T00:00:00Z" "$1" &&
		grep -q "^  expires     9999-12-31T23:59:59Z (253402300799000 ms" "$1"' _ "$O"
	t_rc 11 "TZ='$tz': cert check --json" env TZ="$tz" "$KMC" --vault "$V" \
		cert check --json --within 36500
	cp "$OUT" "$O"
	check "... the same report" cmp -s "$T/check.json" "$O"
done
t_rc 11 "TZ unset: cert check --json" env -u TZ "$KMC" --vault "$V" cert check --json --within 36500
cp "$OUT" "$O"
check "... the same report" cmp -s "$T/check.json" "$O"

# Years before 1000: four digits still (RFC 3339), not strftime's "1".
check "a leaf valid since year 1" leaf ancient G:00010101000000Z G:20991231235959Z
t "... cert info --json FILE" kmc cert info "$P/ancient.crt" --json
cp "$OUT" "$O"
check "... not_before 0001-01-01T00:00:00Z" jqt "$O" '.[0].not_before == "0001-01-01T00:00:00Z"'
check "a CA that expired in 999" "$RAW" cert "$P/ca.key" - "$P/ca.key" \
	"old CA" ca G:00010101000000Z G:09991231235959Z "$P/oldca.crt"
t_err 9 "trust add refuses it, the date in four digits" \
	"^kmc: trust add refused, nothing was changed: $P/oldca.crt: certificate CN=old CA has expired \(not after 0999-12-31 23:59:59 UTC\)\$" \
	kmc trust add old "$P/oldca.crt"

# ---- a clock set back: what was imported is not valid yet --------------------

# clock_shim.c reads the wall clock $KMC_CLOCK_BACK seconds early.
SHIM=$T/clock_shim.so
check "the clock shim builds" cc -shared -fPIC -o "$SHIM" "$KMC_TOP/tests/e2e/clock_shim.c" -ldl
back() { env LD_PRELOAD="$SHIM" KMC_CLOCK_BACK="$1" "$KMC" --vault "$V" "${@:2}"; }
t "rm the bundles of the dates above" bash -c 'for b in y2038 last-utctime first-generalized last-day; do "$1" --vault "$2" rm "$b" || exit; done' _ "$KMC" "$V"
now=$(date -u +%Y%m%d%H%M%S)Z
check "a leaf valid from now to 9999" leaf fresh "G:$now" G:99991231235959Z
t "... imports" kmc import --name fresh -c "$P/ca.crt" -s "$P/fresh.crt" -k "$P/leaf.key"
t_out "cert check --within 0 now: nothing" '' kmc cert check --within 0
t_err 11 "the clock two days back: cert check --within 0 says so, exit 11" \
	'^kmc: 1 of 2 certificates and CRLs is expired, not valid yet or due within 0 days$' \
	back 172800 cert check --within 0
cp "$OUT" "$O"
check "... fresh/cert is not valid until its not before, one line" bash -c '
	grep -Eq "^fresh/cert: certificate CN=fresh is not valid until [0-9T:-]+Z \(in (1 day|2 days)\)$" "$1" &&
	[ "$(wc -l <"$1")" -eq 1 ]' _ "$O"
t_rc 11 "... --json: its state, due" back 172800 cert check --json --within 0
cp "$OUT" "$O"
check "... not_yet_valid, due; the CA ok" jqt "$O" \
	'map([.item, .state, .due]) == [["fresh/cert", "not_yet_valid", true], ["fresh/ca", "ok", false]]'
t_out "the clock right again: nothing" '' kmc cert check --within 0

# kmc status names what no client takes yet before one that ends later.
check "a leaf valid from 2020 to 2099" leaf soon U:200101000000Z G:20991231235959Z
t "... imports" kmc import --name soon -c "$P/ca.crt" -s "$P/soon.crt" -k "$P/leaf.key"
t "the clock two days back: kmc status" back 172800 status
cp "$OUT" "$O"
check "... names fresh/cert, not valid yet, before soon/cert that ends first" \
	grep -Eqx "nearest expiry fresh/cert certificate 9999-12-31T23:59:59Z \(not valid until [0-9T:-]+Z, in (1 day|2 days)\)" "$O"
t "... --json" back 172800 status --json
cp "$OUT" "$O"
check "... nearest_expiry fresh/cert, not_yet_valid, its not_before; one not valid yet" jqt "$O" \
	".not_yet_valid == 1 and (.nearest_expiry | .item == \"fresh/cert\" and
	 .state == \"not_yet_valid\" and .not_before == \"$(date -u -d "$(openssl x509 -in "$P/fresh.crt" -noout -startdate | cut -d= -f2)" +%FT%TZ)\")"
gone_end=$(date -u -d "-60 hours" +%Y%m%d%H%M%S)Z
check "a leaf that ended 60 hours ago" leaf gone U:200101000000Z "G:$gone_end"
t "... imports with the clock three days back" back 259200 import --name gone -c "$P/ca.crt" -s "$P/gone.crt" -k "$P/leaf.key"
t "the clock two days back: kmc status" back 172800 status
cp "$OUT" "$O"
check "... gone/cert first, expired; fresh/cert still counted as not valid yet" \
	grep -Eqx "nearest expiry gone/cert certificate [0-9T:-]+Z \(expired less than a day ago\); 1 not valid yet \(kmc cert check\)" "$O"
t "the clock right: kmc status" kmc status
cp "$OUT" "$O"
check "... gone/cert, nothing said of not valid yet" \
	grep -Eqx "nearest expiry gone/cert certificate [0-9T:-]+Z \(expired 2 days ago\)" "$O"
t "rm soon and gone" bash -c '"$1" --vault "$2" rm soon && "$1" --vault "$2" rm gone' _ "$KMC" "$V"

# The audit log keeps the order (seq), its times the clock's.
secret_file "$T/pw" hunter2
t "password set with the clock two days back" back 172800 password set late --password-file "$T/pw"
t "kmc audit --json" kmc audit --json
cp "$OUT" "$O"
check "... its records last by seq, their time two days back" bash -c '
	tail -n 2 "$1" >"$1.last" && grep -q "\"name\":\"late\"" "$1.last" &&
	while read -r rec; do
		[ "$(jq -r .time <<<"$rec")" \< "$(date -u -d "-1 day" +%FT%TZ)" ] || exit
	done <"$1.last"' _ "$O"
t "kmc audit --since a day ago" kmc audit --since "$(date -u -d "-1 day" +%FT%TZ)"
cp "$OUT" "$O"
check "... leaves them out, by their own time" bash -c '! grep -q "kmc_item_put: late " "$1"' _ "$O"
t "kmc audit verify: the order holds" kmc audit verify

# ---- CRLs over time: an older one never replaces a newer ---------------------

t "a CA in the vault" kmc ca init rca --subject /CN=rca --days 30
t "... issues s1, its keys folder $T/k1" kmc cert issue s1 --ca rca --server \
	--subject /CN=s1 --days 10 --keys-dir "$T/k1"
t "... and s2" kmc cert issue s2 --ca rca --server --subject /CN=s2 --days 10
t "CRL A: nothing revoked" kmc ca crl rca --out "$T/a.crl"
t "s2 revoked" kmc ca revoke rca s2
t "CRL B: s2 revoked" kmc ca crl rca --out "$T/b.crl"
t "crl update s1 to B" kmc crl update s1 -r "$T/b.crl"
t_err 9 "crl update s1 back to A, the older: refused (exit 9), naming both and why" \
	"^kmc: crl update refused, nothing was changed: $T/a.crl is older than the CRL s1 holds \(s1/crl\), which it would replace \(its CRL number [0-9]+ is lower than [0-9]+; " \
	kmc crl update s1 -r "$T/a.crl"
check "... s1's copy is still B, byte for byte" cmp -s "$T/k1/ca.crl" "$T/b.crl"
t "crl update s1 to B again: the same CRL is taken" kmc crl update s1 -r "$T/b.crl"
echo 'not a CRL' >"$T/junk"
check "s1/crl damaged (stored through the C API)" "$PUT" "$V" s1/crl crl "$T/junk"
t "crl update still replaces a damaged CRL: nothing to compare with" \
	kmc crl update s1 -r "$T/b.crl"
t "s1's certificate" kmc cert info s1 --json
jq -r '.[0].pem' "$OUT" >"$T/s1.crt"
t_err 9 "cert renew s1 -r A, the older: refused (exit 9)" \
	"^kmc: cert renew refused, nothing was changed: $T/a.crl is older than the CRL s1 holds \(s1/crl\)" \
	kmc cert renew s1 -s "$T/s1.crt" -r "$T/a.crl"
check "... s1's copy is still B" cmp -s "$T/k1/ca.crl" "$T/b.crl"
t "cert renew s1 -r B: taken" kmc cert renew s1 -s "$T/s1.crt" -r "$T/b.crl"
# A CA given a new key under the same name starts its CRL numbers anew:
# its first CRL (number 1) is not older than the old key's, only other.
R=$T/rekeyed
mkdir "$R"
cat >"$R/ca.cnf" <<'CNF'
[ ca ]
default_ca = rekeyed
[ rekeyed ]
dir = .
database = index.txt
new_certs_dir = .
certificate = ca.crt
private_key = ca.key
serial = serial
crlnumber = crlnumber
default_md = sha256
policy = any
crl_extensions = crl_ext
[ any ]
commonName = supplied
[ crl_ext ]
authorityKeyIdentifier = keyid
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:s1
authorityKeyIdentifier = keyid
CNF
t "kmc csr s1" kmc csr s1 --subject /CN=s1 --out "$R/s1.csr"
check "CN=rca with a new key signs it, and its CRL number 1" bash -c '
	cd "$1" && : >index.txt && echo 01 >serial && echo 01 >crlnumber &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key &&
	openssl req -new -x509 -key ca.key -out ca.crt -days 30 -subj /CN=rca \
		-config ca.cnf -extensions v3_ca &&
	openssl ca -config ca.cnf -batch -notext -days 10 -extensions server \
		-in s1.csr -out s1.crt && openssl ca -config ca.cnf -gencrl -crldays 5 \
		-out new.crl' _ "$R"
t "cert renew s1 onto it, with that CRL: taken" \
	kmc cert renew s1 -s "$R/s1.crt" -c "$R/ca.crt" -r "$R/new.crl"
t "ca list --json: the CA's certificate" kmc ca list rca --json
jq -r '.[0].pem' "$OUT" >"$T/rca.crt"
t "trust add rca with CRL B" kmc trust add rca "$T/rca.crt" --crl "$T/b.crl"
t_err 9 "trust crl rca A, the older: refused (exit 9), naming both" \
	"^kmc: trust crl refused, nothing was changed: $T/a.crl is older than the CRL trust store default holds for rca, which it would replace \(its CRL number [0-9]+ is lower than [0-9]+; " \
	kmc trust crl rca "$T/a.crl"
t "trust crl rca B again: taken" kmc trust crl rca "$T/b.crl"
t_err 9 "trust add rca --replace --crl A, the older: refused" \
	"^kmc: trust add refused, nothing was changed: $T/a.crl is older than the CRL trust store default holds for rca" \
	kmc trust add rca "$T/rca.crt" --replace --crl "$T/a.crl"

# A new version of a bundle (import --replace, --stage, then promote)
# brings its CRL too: not an older one than the live bundle's.
t "CA rcb, bundles p1 (keys folder $T/kp) and p2" bash -c '
	k() { "$1" --vault "$2" "${@:4}"; }
	k "$1" "$2" x ca init rcb --subject /CN=rcb --days 30 &&
	k "$1" "$2" x cert issue p1 --ca rcb --server --subject /CN=p1 --days 10 --keys-dir "$3/kp" &&
	k "$1" "$2" x cert issue p2 --ca rcb --server --subject /CN=p2 --days 10 &&
	k "$1" "$2" x ca crl rcb --out "$3/pa.crl" &&
	k "$1" "$2" x crl update p1 -r "$3/pa.crl" &&
	k "$1" "$2" x unwrap p1 --out "$3/p1.key"' _ "$KMC" "$V" "$T"
t "p1's certificate" kmc cert info p1 --json
jq -r '.[0].pem' "$OUT" >"$T/p1.crt"
t "rcb's" kmc ca list rcb --json
jq -r '.[0].pem' "$OUT" >"$T/rcb.crt"
t "import --stage p1 with the CRL it holds (A)" \
	kmc import --name p1 -c "$T/rcb.crt" -s "$T/p1.crt" -k "$T/p1.key" -r "$T/pa.crl" --stage
t "p2 revoked, CRL B, and p1 updated to it" bash -c '
	"$1" --vault "$2" ca revoke rcb p2 && "$1" --vault "$2" ca crl rcb --out "$3/pb.crl" &&
	"$1" --vault "$2" crl update p1 -r "$3/pb.crl"' _ "$KMC" "$V" "$T"
t_err 9 "promote p1: its staged CRL (A) is older than the live one (B): refused" \
	"^kmc: promote refused, nothing was changed: p1/\.s/crl is older than the CRL p1 holds \(p1/crl\)" \
	kmc promote p1
check "... p1's copy is still B" cmp -s "$T/kp/ca.crl" "$T/pb.crl"
t_err 9 "import --replace p1 with A: refused" "is older than the CRL p1 holds" \
	kmc import --name p1 -c "$T/rcb.crt" -s "$T/p1.crt" -k "$T/p1.key" -r "$T/pa.crl" --replace
t_err 9 "import --stage p1 with A: refused" "is older than the CRL p1 holds" \
	kmc import --name p1 -c "$T/rcb.crt" -s "$T/p1.crt" -k "$T/p1.key" -r "$T/pa.crl" --stage
t "import --stage p1 with B, then promote: taken" bash -c '
	"$1" --vault "$2" import --name p1 -c "$3/rcb.crt" -s "$3/p1.crt" -k "$3/p1.key" \
		-r "$3/pb.crl" --stage && "$1" --vault "$2" promote p1' _ "$KMC" "$V" "$T"
t "promote p1 --previous goes back on purpose, CRL and all" kmc promote p1 --previous
check "p1/crl damaged (stored through the C API)" "$PUT" "$V" p1/crl crl "$T/junk"
t "import --stage p1 with B, then promote: a damaged live CRL is replaced" bash -c '
	"$1" --vault "$2" import --name p1 -c "$3/rcb.crt" -s "$3/p1.crt" -k "$3/p1.key" \
		-r "$3/pb.crl" --stage && "$1" --vault "$2" promote p1' _ "$KMC" "$V" "$T"

# CRLs that name no authority key identifier (openssl ca without
# crl_extensions, as tools/mkpki.sh): the CA key that verifies the new
# CRL tells whether the held one is of the same key. Of the same key, an
# older one is refused wherever a CRL is replaced; of a CA of the same
# name given a new key, whose numbers start anew, the first is taken.
# (mkpki's numbers are hex 1000: 4096, then 4097 after a revocation.)
printf 'key-pass-1\n' >"$T/kp1" && printf 'key-pass-2\n' >"$T/kp2"
chmod 600 "$T/kp1" "$T/kp2"
t "a PKI whose CRLs name no authority key identifier: CRL number 4096" \
	bash "$KMC_TOP/tools/mkpki.sh" "$T/pk1" key-pass-1
cp "$T/pk1/ca.crl" "$T/pk1/c4096.crl"
check "... which names none indeed" bash -c '! openssl crl -in "$1" -noout -text |
	grep -q "Authority Key Identifier"' _ "$T/pk1/c4096.crl"
t "... which revokes its client certificate: CRL number 4097" \
	bash -c 'cd "$1" && ./crl.sh client.crt' _ "$T/pk1"
t "import rot with it (keys folder $T/kr)" kmc import --name rot -c "$T/pk1/ca.crt" \
	-s "$T/pk1/server.crt" -k "$T/pk1/server.key" -r "$T/pk1/ca.crl" \
	--password-file "$T/kp1" --keys-dir "$T/kr"
t "trust add rot with it" kmc trust add rot "$T/pk1/ca.crt" --crl "$T/pk1/ca.crl"
# The vault's files and the copies, but its lock (which every open takes).
disk() { find "$V" "$T/kr" -type f ! -name '*-lock' -print0 | sort -z |
	xargs -0 sha256sum; }
disk >"$T/disk0"
same_disk() { disk | cmp -s - "$T/disk0"; }
older="is older than the CRL rot holds \(rot/crl\), which it would replace \(its CRL number 4096 is lower than 4097; "
t_err 9 "crl update rot back to 4096: refused, naming the file and both numbers" \
	"^kmc: crl update refused, nothing was changed: $T/pk1/c4096.crl $older" \
	kmc crl update rot -r "$T/pk1/c4096.crl"
check "... nothing changed on disk" same_disk
t_err 9 "trust crl rot 4096: refused, naming the file and both numbers" \
	"^kmc: trust crl refused, nothing was changed: $T/pk1/c4096.crl is older than the CRL trust store default holds for rot, which it would replace \(its CRL number 4096 is lower than 4097; " \
	kmc trust crl rot "$T/pk1/c4096.crl"
check "... nothing changed on disk" same_disk
t_err 9 "trust add rot --replace --crl 4096: refused" \
	"^kmc: trust add refused, nothing was changed: $T/pk1/c4096.crl is older than the CRL trust store default holds for rot, which it would replace \(its CRL number 4096 is lower than 4097; " \
	kmc trust add rot "$T/pk1/ca.crt" --replace --crl "$T/pk1/c4096.crl"
check "... nothing changed on disk" same_disk
for how in replace stage; do
	t_err 9 "import --$how rot with 4096: refused" \
		"^kmc: import refused, nothing was changed: $T/pk1/c4096.crl $older" \
		kmc import --name rot -c "$T/pk1/ca.crt" -s "$T/pk1/server.crt" \
		-k "$T/pk1/server.key" -r "$T/pk1/c4096.crl" --password-file "$T/kp1" \
		--"$how"
	check "... nothing changed on disk" same_disk
done
t "rot's certificate" kmc cert info rot --json
jq -r '.[0].pem' "$OUT" >"$T/rot.crt"
t_err 9 "cert renew rot -r 4096: refused" \
	"^kmc: cert renew refused, nothing was changed: $T/pk1/c4096.crl $older" \
	kmc cert renew rot -s "$T/rot.crt" -r "$T/pk1/c4096.crl"
check "... nothing changed on disk" same_disk
# A CA certificate renewed with the same key: still the one CA.
check "rot's CA renewed: a new certificate, the same name and key" bash -c '
	cd "$1" && openssl req -new -x509 -key ca.key -out renewed.crt -days 30 \
		-subj "/CN=kmc test CA" -config ca.cnf -extensions v3_ca &&
	! cmp -s ca.crt renewed.crt' _ "$T/pk1"
t_err 9 "trust add rot --replace with it, --crl 4096: refused" \
	"^kmc: trust add refused, nothing was changed: $T/pk1/c4096.crl is older than the CRL trust store default holds for rot" \
	kmc trust add rot "$T/pk1/renewed.crt" --replace --crl "$T/pk1/c4096.crl"
t_err 9 "cert renew rot -c it -r 4096: refused" \
	"^kmc: cert renew refused, nothing was changed: $T/pk1/c4096.crl $older" \
	kmc cert renew rot -s "$T/rot.crt" -c "$T/pk1/renewed.crt" -r "$T/pk1/c4096.crl"
check "... nothing changed on disk" same_disk
t "crl update rot to 4097 again: the same CRL is taken" \
	kmc crl update rot -r "$T/pk1/ca.crl"
t "import --stage rot with 4097, the CRL it holds: taken" \
	kmc import --name rot -c "$T/pk1/ca.crt" -s "$T/pk1/server.crt" \
	-k "$T/pk1/server.key" -r "$T/pk1/ca.crl" --password-file "$T/kp1" --stage
t "CRL 4098, and crl update rot to it" bash -c 'cd "$1" &&
	openssl ca -config ca.cnf -gencrl -out c4098.crl >/dev/null 2>&1 &&
	"$2" --vault "$3" crl update rot -r c4098.crl' _ "$T/pk1" "$KMC" "$V"
disk >"$T/disk0"
t_err 9 "promote rot: its staged CRL (4097) is older than the live one: refused" \
	"^kmc: promote refused, nothing was changed: rot/\.s/crl is older than the CRL rot holds \(rot/crl\), which it would replace \(its CRL number 4097 is lower than 4098; " \
	kmc promote rot
check "... nothing changed on disk" same_disk
# The CA replaced by another of the same name and a new key: its first
# CRL (4096) is lower than the old key's (4097), and taken.
t "the next PKI, its CA of the same name and a new key: CRL number 4096" \
	bash "$KMC_TOP/tools/mkpki.sh" "$T/pk2" key-pass-2
t "import --replace rot onto the new CA, with its CRL: taken" \
	kmc import --name rot -c "$T/pk2/ca.crt" -s "$T/pk2/server.crt" \
	-k "$T/pk2/server.key" -r "$T/pk2/ca.crl" --password-file "$T/kp2" --replace
t "trust add rot --replace with the new CA and its CRL: taken" \
	kmc trust add rot "$T/pk2/ca.crt" --replace --crl "$T/pk2/ca.crl"

# Neither with a CRL number: by last update, the same key or not.
check "CRLs of the dates CA without a number: last update 2021" "$RAW" crl \
	"$P/ca.crt" "$P/ca.key" U:210101000000Z G:20991231235959Z "$P/late.crl"
check "... and 2020" "$RAW" crl "$P/ca.crt" "$P/ca.key" U:200101000000Z \
	G:20991231235959Z "$P/early.crl"
check "... which name no number" bash -c '! openssl crl -in "$1" -noout -text |
	grep -q "CRL Number"' _ "$P/early.crl"
t "import nonum with the 2021 CRL (keys folder $T/kn)" kmc import --name nonum \
	-c "$P/ca.crt" -s "$P/good.crt" -k "$P/leaf.key" -r "$P/late.crl" \
	--keys-dir "$T/kn"
t "trust add nonum with it" kmc trust add nonum "$P/ca.crt" --crl "$P/late.crl"
disk() { find "$V" "$T/kn" -type f ! -name '*-lock' -print0 | sort -z |
	xargs -0 sha256sum; }
disk >"$T/disk0"
early="is older than the CRL nonum holds \(nonum/crl\), which it would replace \(neither has a CRL number; last update 2020-01-01T00:00:00Z, against 2021-01-01T00:00:00Z\)"
t_err 9 "crl update nonum to the 2020 CRL: refused, naming both dates" \
	"^kmc: crl update refused, nothing was changed: $P/early.crl $early" \
	kmc crl update nonum -r "$P/early.crl"
check "... nothing changed on disk" same_disk
t_err 9 "trust crl nonum 2020: refused" \
	"^kmc: trust crl refused, nothing was changed: $P/early.crl is older than the CRL trust store default holds for nonum, which it would replace \(neither has a CRL number; last update 2020-01-01T00:00:00Z, against 2021-01-01T00:00:00Z\)" \
	kmc trust crl nonum "$P/early.crl"
check "... nothing changed on disk" same_disk
t_err 9 "import --replace nonum with the 2020 CRL: refused" \
	"^kmc: import refused, nothing was changed: $P/early.crl $early" \
	kmc import --name nonum -c "$P/ca.crt" -s "$P/good.crt" -k "$P/leaf.key" \
	-r "$P/early.crl" --replace
check "... nothing changed on disk" same_disk
check "the dates CA given a new key under its name, and its 2020 CRL" bash -c '
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2/ca2.key" &&
	"$1" cert "$2/ca2.key" - "$2/ca2.key" "dates CA" ca U:200101000000Z \
		G:99991231235959Z "$2/ca2.crt" &&
	"$1" crl "$2/ca2.crt" "$2/ca2.key" U:200101000000Z G:20991231235959Z \
		"$2/early2.crl"' _ "$RAW" "$P"
t "trust add nonum --replace with the new CA and its 2020 CRL: taken" \
	kmc trust add nonum "$P/ca2.crt" --replace --crl "$P/early2.crl"

# ---- a CRL's next update never past its CA's end -----------------------------

t "a CA that ends in 3 days" kmc ca init near --subject /CN=near --days 3
kmc ca list near --json >"$T/near.before" 2>&1
ca_end=$(jq -r '.[0].not_after' "$T/near.before")
t_err 2 "ca crl --days 5 past the CA's end: refused, naming it and how many days fit" \
	"^kmc: ca crl refused, nothing was changed: --days 5: that ends after CA near's certificate expires \(.*\); at most [23] days\$" \
	kmc ca crl near --out "$T/near5.crl" --days 5
check "... no CRL written, no number used" bash -c '[ ! -e "$1/near5.crl" ] &&
	"$2" --vault "$3" ca list near --json 2>&1 | cmp -s - "$1/near.before"' _ "$T" "$KMC" "$V"
t "ca crl --days 2, within the CA's life: signed" kmc ca crl near --out "$T/near2.crl" --days 2
t "ca crl with the default 30 days: signed all the same" kmc ca crl near --out "$T/near.crl"
check "... saying its next update is the CA's end ($ca_end), not in 30 days" \
	grep -Eq "^kmc: $T/near.crl: CRL number [0-9]+ of CA near, next update $ca_end, when the CA's certificate expires, not in 30 days .*make a new CA" "$LAST_ERR"
check "... and so it is in the CRL" test \
	"$(date -u -d "$(openssl crl -in "$T/near.crl" -noout -nextupdate | cut -d= -f2)" +%FT%TZ)" = "$ca_end"
t "a CA of 31 days" kmc ca init far --subject /CN=far --days 31
t "... its default CRL" kmc ca crl far --out "$T/far.crl"
check "... says next update in 30 days, as before" grep -q "next update in 30 days" "$LAST_ERR"

done_testing
