#!/usr/bin/env bash
# test_json.sh - every --json output parses (jq) and has each field that
# docs/cli.md's "JSON output" tables document for it, and no command
# prints anything else on standard output with --json.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
CLIMD=$KMC_TOP/docs/cli.md
PW=$T/pw
secret_file "$PW" 'hunter2'

# fields CMD [restore]: the fields cli.md documents for `CMD --json`,
# one a line (a row naming two, "`a`, `b`", gives both; rows marked
# "restore only" belong to restore alone, "backup only" to backup).
fields() {
	awk -v cmd="$1" '
		/^## / { on = 0 }
		/^`[a-z ]+ --json`/ {
			on = 0
			n = split($0, parts, "`")
			for (i = 2; i <= n; i += 2)
				if (parts[i] == cmd " --json")
					on = 1
			next
		}
		on && /^\| `/ {
			split($0, cols, "|")
			if (cmd != "restore" && cols[4] ~ /restore only/)
				next
			if (cmd != "backup" && cols[4] ~ /backup only/)
				next
			m = split(cols[2], names, "`")
			for (i = 2; i <= m; i += 2)
				print names[i]
		}' "$CLIMD"
}
# has_fields FILE CMD: FILE is JSON, and each object in it (the value, or
# the array's first element) has every documented field of CMD.
has_fields() {
	local f
	jq -e . "$1" >/dev/null || return 1
	[ "$(fields "$2" | wc -l)" -gt 0 ] || { echo "no fields for $2 in cli.md"; return 1; }
	while read -r f; do
		jq -e --arg f "$f" '(if type == "array" then .[0] else . end) | has($f)' \
			"$1" >/dev/null || { echo "$2 --json lacks $f"; return 1; }
	done < <(fields "$2")
}
# json_of DESC CMD FIELDS-KEY ARGS...: run kmc ARGS (exit 0), then check
# its standard output against the documented fields of FIELDS-KEY.
json_of() {
	local desc=$1 key=$2
	shift 2
	t "$desc exits 0" kmc "$@"
	cp "$OUT" "$T/json.out"
	check "$desc: JSON with every field docs/cli.md documents" has_fields "$T/json.out" "$key"
}

check "mkpki.sh makes a certificate to describe" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki"
t "a vault" kmc init
t "... with an item" kmc password set db --password-file "$PW"

json_of "version --json" version version --json
json_of "status --json" status status --json
json_of "list --json" list list --json
json_of "protector list --json" "protector list" protector list --json
json_of "cert info FILE --json" "cert info" cert info "$T/pki/server.crt" --json
json_of "audit verify --json" "audit verify" audit verify --json
check "audit verify --json: intact" jq -e '.intact == true and .error == null' "$T/json.out"
"$KMC" --vault "$V" audit --json 2>/dev/null | tail -n 1 >"$T/audit.last"
check "audit --json: its last line, a record with every field cli.md documents" \
	has_fields "$T/audit.last" audit
json_of "backup --json" backup backup --out "$T/bk" --json
check "backup --json names the new folder" jq -e --arg d "$T/bk" '.dir == $d' "$T/json.out"
check "backup --json counts the item" jq -e '.items == 1' "$T/json.out"
json_of "restore --json" restore restore "$T/bk" --json
check "restore --json says the backup was verified" jq -e '.verified == true and .note == ""' "$T/json.out"
# A SAN value holding ", DNS:evil.example" must stay one name: the
# names are joined with ", " on the way to the JSON array and the text.
cat >"$T/san.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = comma
[ext]
subjectAltName = @alt
[alt]
URI.1 = https://a, DNS:evil.example
EOF
check "openssl makes a certificate with a comma in a URI SAN" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/san.key" -out "$T/san.crt" -days 1 -config "$T/san.cnf"
kmc cert info "$T/san.crt" --json >"$T/san.json" 2>/dev/null
check "cert info --json: a comma in a SAN forges no second SAN" \
	jq -e '.[0].sans == ["URI:https://a? DNS:evil.example"]' "$T/san.json"
kmc cert info "$T/san.crt" >"$T/san.txt" 2>/dev/null
check "cert info: the text shows that SAN as one name" \
	grep -qx '  SANs        URI:https://a? DNS:evil.example' "$T/san.txt"
# A certificate of many names (a web farm's, a CDN's: hundreds are
# common) of every kind: cert info lists every one, as openssl does.
{
	printf '[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3\n'
	printf '[dn]\nCN = many\n[v3]\nsubjectAltName = @alt\n[alt]\n'
	for i in $(seq 1 150); do
		printf 'DNS.%d = host%03d.a-rather-long-domain-name.example\n' "$i" "$i"
	done
	printf 'IP.1 = 192.0.2.7\nIP.2 = 2001:db8::5\nemail.1 = ops@example.com\n'
	printf 'URI.1 = spiffe://example/web\ndirName.1 = dir\nRID.1 = 1.2.3.4\n'
	printf 'URI.2 = https://example.com/%s\n' "$(printf 'p%.0s' {1..1000})"
	printf '[dir]\nCN = dir\nO = Acme\n'
} >"$T/many.cnf"
check "openssl makes a certificate with 157 SANs" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/many.key" -out "$T/many.crt" -days 1 -config "$T/many.cnf"
kmc cert info "$T/many.crt" --json >"$T/many.json" 2>/dev/null
check "cert info --json: all 157 SANs, in the certificate's order" \
	jq -e '.[0].sans | length == 157 and .[0] == "DNS:host001.a-rather-long-domain-name.example"
		and .[149] == "DNS:host150.a-rather-long-domain-name.example"
		and .[150:] == ["IP:192.0.2.7", "IP:2001:db8:0:0:0:0:0:5",
		"email:ops@example.com", "URI:spiffe://example/web",
		"DirName:/CN=dir/O=Acme", "RID:1.2.3.4",
		"URI:https://example.com/" + ("p" * 1000)]' "$T/many.json"
kmc cert info "$T/many.crt" >"$T/many.txt" 2>/dev/null
check "cert info: the text lists them all too" \
	grep -q 'host150.a-rather-long-domain-name.example, IP:192.0.2.7, .*, RID:1.2.3.4, URI:https://example.com/p\{1000\}$' "$T/many.txt"
# Names in UTF-8, with a comma and quotes: cert info gives the text
# openssl x509 -nameopt RFC2253,-esc_msb gives, not escaped bytes.
check "openssl makes a certificate of a UTF-8 subject" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -utf8 \
	-keyout "$T/utf8.key" -out "$T/utf8.crt" -days 1 \
	-subj '/CN=Café "Zürich", Süd/O=Bäckerei'
kmc cert info "$T/utf8.crt" --json >"$T/utf8.json" 2>/dev/null
want=$(openssl x509 -in "$T/utf8.crt" -noout -subject -nameopt RFC2253,-esc_msb |
	sed 's/^subject=//')
check "cert info --json: the subject as openssl -nameopt RFC2253,-esc_msb shows it" \
	jq -e --arg want "$want" '.[0].subject == $want and .[0].issuer == $want and
		.[0].subject == "O=Bäckerei,CN=Café \\\"Zürich\\\"\\, Süd"' "$T/utf8.json"
kmc cert info "$T/utf8.crt" >"$T/utf8.txt" 2>/dev/null
check "cert info: the text shows the name in UTF-8 too" \
	grep -q '^  subject     O=Bäckerei,CN=Café ' "$T/utf8.txt"
# A name longer than the field holds (12 OUs): cut where it must be,
# and saying so, never read as another whole name.
subj=$(for i in $(seq 1 12); do printf '/OU=Unit %02d %s' "$i" "$(printf 'x%.0s' {1..50})"; done)/CN=long
check "openssl makes a certificate of a 780-byte subject" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/long.key" -out "$T/long.crt" -days 1 -subj "$subj"
want=$(openssl x509 -in "$T/long.crt" -noout -subject -nameopt RFC2253,-esc_msb |
	sed 's/^subject=//')
check "cert info --json: a subject cut to the field ends ..., the rest openssl's" \
	jq -e --arg want "$want" '.[0].subject | endswith("...") and
		(.[:-3] | length > 400) and ($want | startswith(.[:-3]))' \
	<(kmc cert info "$T/long.crt" --json 2>/dev/null)
# Serials as openssl x509 -serial prints them, whole bytes of hex.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ser.key" -out "$T/ser.csr" -subj /CN=ser 2>/dev/null
for ser in 0 -5 0x80 0x0080ff; do
	openssl x509 -req -in "$T/ser.csr" -key "$T/ser.key" -set_serial "$ser" \
		-out "$T/ser.crt" -days 1 2>/dev/null
	check "cert info --json: serial $ser as openssl x509 -serial shows it" \
		jq -e --arg want "$(openssl x509 -in "$T/ser.crt" -noout -serial |
			sed 's/^serial=//')" '.[0].serial == $want' \
		<(kmc cert info "$T/ser.crt" --json 2>/dev/null)
done
long=$(printf 'AB%.0s' {1..70})
openssl x509 -req -in "$T/ser.csr" -key "$T/ser.key" -set_serial "0x$long" \
	-out "$T/ser.crt" -days 1 2>/dev/null
check "cert info --json: a 70-byte serial reads as cut, not as a whole one" \
	jq -e --arg head "${long:0:128}" '.[0].serial == $head + "..."' \
	<(kmc cert info "$T/ser.crt" --json 2>/dev/null)
fields backup >"$T/fields.backup"
check "the parser of cli.md keeps restore-only fields from backup's" \
	bash -c '! grep -qx replaced_generation "$1" && grep -qx vault_id "$1"' _ "$T/fields.backup"
kmc version --json >"$T/v.json"
check "version --json: version matches kmc version" \
	bash -c '[ "kmc $(jq -r .version "$1")" = "$("$2" version)" ]' _ "$T/v.json" "$KMC"
check "version --json: abi is a number, features an array" \
	jq -e '(.abi | type == "number") and (.features | type == "array")' "$T/v.json"

t "an imported bundle for cert check" kmc import -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.plain.key" -r "$T/pki/ca.crl"
# mkpki's certificates are good for 30 days: none is due within 1.
json_of "cert check --json" "cert check" cert check --json --within 1
check "cert check --json lists the certificate, the CA and the CRL" \
	jq -e 'map(.item) == ["server/cert", "server/ca", "server/crl"]' "$T/json.out"

done_testing
