#!/usr/bin/env bash
# test_trust.sh - trust stores from the command line: kmc trust add, rm,
# list, export and sync, kmc import --trust, kmc cert set-trust and what
# kmc cert info and kmc cert check say of them. Every refusal names the
# file, alias or store, exits with its documented code and changes
# nothing, in the vault or in a sync file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
P1=$T/pki1
P2=$T/pki2
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'rm -rf "$T"' EXIT

"$KMC_TOP/tools/mkpki.sh" "$P1" >/dev/null
MKPKI_CA_CN="second CA" "$KMC_TOP/tools/mkpki.sh" "$P2" >/dev/null

# selfsigned OUT DAYS-OR-DATES EXT: a self-signed certificate made with
# openssl ca, which takes any start and end date (one in the past too).
selfsigned() {
	local out=$1 start=$2 end=$3 ext=$4
	(cd "$P1" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$out.key" &&
	openssl req -new -key "$out.key" -subj "/CN=$(basename "$out")" \
		-out "$out.csr" &&
	openssl ca -batch -selfsign -config ca.cnf -keyfile "$out.key" \
		-in "$out.csr" -startdate "$start" -enddate "$end" \
		-extensions "$ext" -out "$out.crt" -notext) >/dev/null 2>&1
}
cat >>"$P1/ca.cnf" <<'CNF'
[ leaf ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
[ nosign ]
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature
CNF
selfsigned "$T/expired" 20200101000000Z 20200201000000Z v3_ca
selfsigned "$T/future" 20990101000000Z 20991231000000Z v3_ca
selfsigned "$T/pinme" 20200101000000Z 20991231000000Z leaf
selfsigned "$T/nosign" 20200101000000Z 20991231000000Z nosign
cat "$P1/ca.crt" "$P2/ca.crt" >"$T/two.pem"
echo "not a certificate" >"$T/junk.pem"

t "init a vault" kmc init
gen() { kmc status --json | jq -r .store_generation; }
unchanged() { [ "$(snapshot "$V")" = "$BEFORE" ]; }

# ---- add and list ------------------------------------------------------------

G0=$(gen)
t "trust add: the first CA, as old, in store clients" \
	kmc trust add old "$P1/ca.crt" --store clients
t "trust add: the second CA, as new" \
	kmc trust add new "$P2/ca.crt" --store clients
check "each add grows the generation servers poll" [ "$(gen)" -ge $((G0 + 2)) ]
t "trust add without --store fills the store named default" \
	kmc trust add root1 "$P1/ca.crt"
t_out "trust list --store clients: aliases in name order" \
	"new old" bash -c '"$1" --vault "$2" trust list --store clients --json |
	jq -r "[.[].alias] | join(\" \")"' _ "$KMC" "$V"
t_out "trust list without --store: every store" \
	"clients/new clients/old default/root1" bash -c '"$1" --vault "$2" \
	trust list --json | jq -r "[.[] | .store + \"/\" + .alias] |
	join(\" \")"' _ "$KMC" "$V"
t_out "trust list --json gives NuoDB's subjectName" "CN=second CA" \
	bash -c '"$1" --vault "$2" trust list --store clients --json |
	jq -r ".[0].subjectName"' _ "$KMC" "$V"
check "trust list text names the alias and the subject" bash -c \
	'"$1" --vault "$2" trust list --store clients |
	grep -q "clients .*new .*CN=second CA"' _ "$KMC" "$V"
t_out "kmc list shows the store as a trust-store item" "trust-store" \
	bash -c '"$1" --vault "$2" list --json | jq -r \
	".[] | select(.name == \"trust:clients\") | .type"' _ "$KMC" "$V"

# ---- refusals: each names what is wrong and changes nothing ------------------

BEFORE=$(snapshot "$V")
t_err 9 "a leaf certificate is refused as an anchor" \
	"server.crt: certificate CN=localhost is not a CA certificate.*--pin-leaf" \
	kmc trust add leaf "$P1/server.crt" --store clients
t_err 9 "--pin-leaf does not take a leaf that is not self-signed" \
	"neither a CA certificate nor self-signed" \
	kmc trust add leaf "$P1/server.crt" --store clients --pin-leaf
t_err 9 "a CA whose key usage lacks keyCertSign is refused" \
	"nosign.crt: .*lacks keyCertSign" \
	kmc trust add nosign "$T/nosign.crt" --store clients
t_err 9 "an expired CA is refused, with its date" \
	"expired.crt: certificate .* has expired \(not after 2020-02-01" \
	kmc trust add exp "$T/expired.crt" --store clients
t_err 9 "a CA not valid yet is refused, with its date" \
	"future.crt: certificate .* is not valid yet \(not before 2099-01-01" \
	kmc trust add fut "$T/future.crt" --store clients
t_err 8 "an alias that exists is refused without --replace" \
	"trust store clients already has alias old; add --replace" \
	kmc trust add old "$P2/ca.crt" --store clients
t_err 8 "the same certificate under a second alias is refused" \
	"ca.crt is already trusted in store clients, as alias old" \
	kmc trust add again "$P1/ca.crt" --store clients
t_err 2 "a file of two certificates is refused" \
	"two.pem holds 2 certificates; trust each under its own alias" \
	kmc trust add two "$T/two.pem" --store clients
t_err 2 "a file that is no certificate is refused" "junk.pem" \
	kmc trust add junk "$T/junk.pem" --store clients
t_err 2 "an alias with a slash is refused" 'alias "a/b" is not' \
	kmc trust add a/b "$P1/ca.crt" --store clients
t_err 2 "a store name with a colon is refused" 'trust store name "x:y"' \
	kmc trust add a "$P1/ca.crt" --store x:y
t_err 7 "rm of an unknown alias names it and the store" \
	"trust store clients has no alias nosuch" \
	kmc trust rm nosuch --store clients
t_err 7 "rm in an unknown store names the store" \
	"holds no trust store nostore" kmc trust rm old --store nostore
t_err 7 "export of an unknown store" "holds no trust store nostore" \
	kmc trust export --store nostore --out -
t_err 2 "trust add with one operand is a usage error" "" \
	kmc trust add onlyalias
check "none of the refusals changed the vault" unchanged

# ---- --replace, --pin-leaf ---------------------------------------------------

t "--replace gives an alias another certificate" \
	kmc trust add root1 "$P2/ca.crt" --replace
t_out "default/root1 is now the second CA" "CN=second CA" bash -c \
	'"$1" --vault "$2" trust list --json | jq -r \
	".[] | select(.alias == \"root1\") | .subjectName"' _ "$KMC" "$V"
t "--pin-leaf trusts a self-signed leaf" \
	kmc trust add pinned "$T/pinme.crt" --pin-leaf
t_out "the list says it is a pinned leaf" "true" bash -c '"$1" --vault \
	"$2" trust list --json | jq -r ".[] | select(.alias == \"pinned\") |
	.pinned_leaf"' _ "$KMC" "$V"
t "rm takes the alias out again" kmc trust rm pinned
t_out "and it is gone" "root1" bash -c '"$1" --vault "$2" trust list \
	--store default --json | jq -r "[.[].alias] | join(\" \")"' _ "$KMC" "$V"

# ---- export ------------------------------------------------------------------

t "export --out writes a new file" \
	kmc trust export --store clients --out "$T/clients.pem"
t_out "it is 0644" "644" stat -c %a "$T/clients.pem"
t_out "it holds both CAs" "2" grep -c 'BEGIN CERTIFICATE' "$T/clients.pem"
check "each after its alias" grep -qx '# old' "$T/clients.pem"
t_out "openssl reads the first as the second CA (aliases in order)" \
	"subject=CN = second CA" openssl x509 -in "$T/clients.pem" -noout -subject
cp "$T/clients.pem" "$T/clients.keep"
t_err 8 "export never overwrites a file" "clients.pem" \
	kmc trust export --store clients --out "$T/clients.pem"
check "the file is as it was" cmp -s "$T/clients.pem" "$T/clients.keep"
t_out "export --out - writes to standard output" "2" bash -c \
	'"$1" --vault "$2" trust export --store clients --out - |
	grep -c "BEGIN CERTIFICATE"' _ "$KMC" "$V"

# ---- sync files ------------------------------------------------------------------

SYNC=$T/nginx-clients.pem
echo "old content" >"$SYNC"
chmod 0640 "$SYNC"
chgrp daemon "$SYNC" 2>/dev/null || true
GRP=$(stat -c %G "$SYNC")
t "trust sync keeps an existing file" kmc trust sync clients --file "$SYNC"
t_out "it now holds the store's two CAs" "2" grep -c 'BEGIN CERTIFICATE' "$SYNC"
t_out "its mode stays 0640" "640" stat -c %a "$SYNC"
t_out "its group stays" "$GRP" stat -c %G "$SYNC"
t "trust sync makes a new file" kmc trust sync clients --file "$T/new.pem"
t_out "a new file is 0644" "644" stat -c %a "$T/new.pem"
check "trust list shows the files it keeps" bash -c '"$1" --vault "$2" \
	trust list --store clients | grep -q "keeps .*nginx-clients.pem"' \
	_ "$KMC" "$V"
t "trust rm old" kmc trust rm old --store clients
t_out "the sync file follows in the same change" "1" \
	grep -c 'BEGIN CERTIFICATE' "$SYNC"
t_out "so does the second" "1" grep -c 'BEGIN CERTIFICATE' "$T/new.pem"
t_out "the one left is the second CA" "subject=CN = second CA" \
	openssl x509 -in "$SYNC" -noout -subject
t_out "its mode still 0640 after the rewrite" "640" stat -c %a "$SYNC"
t_out "its group still the same" "$GRP" stat -c %G "$SYNC"
check "no staged file is left beside it" \
	bash -c '! ls -a "$1" | grep -q kmc-new' _ "$T"
t "trust add old again" kmc trust add old "$P1/ca.crt" --store clients
t_out "the sync file has both again" "2" grep -c 'BEGIN CERTIFICATE' "$SYNC"

BEFORE=$(snapshot "$V")
cp "$SYNC" "$T/sync.keep"
t_err 8 "a file kept already is refused" "already keeps" \
	kmc trust sync clients --file "$SYNC"
ln -s "$SYNC" "$T/link.pem"
t_err 5 "a symbolic link is refused" "link.pem" \
	kmc trust sync clients --file "$T/link.pem"
echo x >"$T/open.pem"
chmod 0666 "$T/open.pem"
t_err 5 "a file others may write is refused" "open.pem" \
	kmc trust sync clients --file "$T/open.pem"
t_err 7 "a store that does not exist" "holds no trust store nostore" \
	kmc trust sync nostore --file "$T/x.pem"
t_err 2 "sync needs --file" "--file" kmc trust sync clients
check "the refusals changed nothing" unchanged
check "nor the sync file" cmp -s "$SYNC" "$T/sync.keep"
check "nor made the new one" test ! -e "$T/x.pem"

# A sync file whose new copy cannot be staged stops the whole change
# before anything is committed: here its folder is immutable.
mkdir "$T/ro"
echo x >"$T/ro/ca.pem"
t "sync a file in a folder that will be made immutable" \
	kmc trust sync clients --file "$T/ro/ca.pem"
# What a user sees (the journal's own transactions change bytes of
# items.mdb, not its items).
seen() { kmc list --json | sed 's/"created":[0-9]*,//g'; kmc trust list --json; }
SEEN=$(seen)
cp "$T/ro/ca.pem" "$T/ro.keep"
if chattr +i "$T/ro" 2>/dev/null; then
	t_err 5 "an add whose sync file cannot be staged fails, naming it" \
		"new copy of .*/ro/ca.pem: operation not permitted" \
		kmc trust add extra "$T/pinme.crt" --store clients --pin-leaf
	chattr -i "$T/ro"
	check "and the store did not change" [ "$(seen)" = "$SEEN" ]
	check "no staged file is left" bash -c '! ls -a "$1" | grep -q kmc-new' _ "$T/ro"
	check "nor the file" cmp -s "$T/ro/ca.pem" "$T/ro.keep"
else
	# chattr needs a file system that has it; the faults suite covers it.
	check "chattr is unavailable here: skipped" true
fi
t "--stop no longer keeps it" kmc trust sync clients --file "$T/ro/ca.pem" --stop

t "--stop no longer keeps the new file" \
	kmc trust sync clients --file "$T/new.pem" --stop
cp "$T/new.pem" "$T/new.keep"
t "trust rm old" kmc trust rm old --store clients
check "a file no longer kept stays as it was" cmp -s "$T/new.pem" "$T/new.keep"
t_out "the kept one follows" "1" grep -c 'BEGIN CERTIFICATE' "$SYNC"

# ---- bundles that name a store ---------------------------------------------------

IMP=(-c "$P1/ca.crt" -s "$P1/server.crt" -k "$P1/server.plain.key")
t "import --trust clients" kmc import "${IMP[@]}" --name web --trust clients
t_out "cert info --json: the trust store and its aliases" "clients new" \
	bash -c '"$1" --vault "$2" cert info web --json |
	jq -r ".[0].trustStore + \" \" + (.[0].trusted | join(\",\"))"' \
	_ "$KMC" "$V"
check "cert info text names the store and aliases" bash -c '"$1" --vault \
	"$2" cert info web | grep -q "^trust store  clients (new)"' _ "$KMC" "$V"
t "import --replace without --trust" \
	kmc import "${IMP[@]}" --name web --replace
t_out "keeps the store the bundle named" "clients" bash -c '"$1" --vault \
	"$2" cert info web --json | jq -r ".[0].trustStore"' _ "$KMC" "$V"
G1=$(gen)
t "cert set-trust --none" kmc cert set-trust web --none
check "grows the generation" [ "$(gen)" -gt "$G1" ]
t_out "the bundle names no store" "null 0" bash -c '"$1" --vault "$2" \
	cert info web --json | jq -r "[.[0].trustStore, (.[0].trusted |
	length)] | map(tostring) | join(\" \")"' _ "$KMC" "$V"
t "cert set-trust web default" kmc cert set-trust web default
t_out "names default now" "default root1" bash -c '"$1" --vault "$2" \
	cert info web --json | jq -r ".[0].trustStore + \" \" +
	(.[0].trusted | join(\",\"))"' _ "$KMC" "$V"
t_out "cert info without NAME: every bundle and every trusted one" \
	"web | clients/new default/root1" bash -c '"$1" --vault "$2" \
	cert info --json | jq -r "([.bundles[].name] | join(\" \")) + \" | \"
	+ ([.trusted[] | .store + \"/\" + .alias] | join(\" \"))"' _ "$KMC" "$V"

BEFORE=$(snapshot "$V")
t_err 7 "set-trust to a store that does not exist" \
	"holds no trust store nostore" kmc cert set-trust web nostore
t_err 7 "set-trust of a bundle that does not exist" \
	"holds no imported bundle nobundle" kmc cert set-trust nobundle clients
t_err 2 "set-trust with both STORE and --none" "STORE or --none" \
	kmc cert set-trust web clients --none
t_err 7 "import --trust of a store that does not exist" \
	"holds no trust store nostore" \
	kmc import "${IMP[@]}" --name web2 --trust nostore
t_err 2 "a bundle may not be named trust:..." "kept for trust stores" \
	kmc import "${IMP[@]}" --name trust:x
check "nothing changed" unchanged

# ---- CRLs of trusted certificates ------------------------------------------------

BEFORE=$(snapshot "$V")
t_err 9 "trust crl: a CRL of another CA is refused" \
	"pki1/ca.crl is not a CRL of .*second CA" \
	kmc trust crl new "$P1/ca.crl" --store clients
(cd "$P2" && openssl ca -config ca.cnf -gencrl -crl_lastupdate 20200101000000Z \
	-crl_nextupdate 20200201000000Z -out "$T/old.crl") >/dev/null 2>&1
t_err 9 "trust crl: an out-of-date CRL is refused, with its date" \
	"old.crl is out of date \(its next update was 2020-02-01" \
	kmc trust crl new "$T/old.crl" --store clients
t_err 2 "trust crl: a file that is no CRL" "junk.pem" \
	kmc trust crl new "$T/junk.pem" --store clients
t_err 7 "trust crl: an unknown alias" "has no alias nosuch" \
	kmc trust crl nosuch "$P2/ca.crl" --store clients
t_err 9 "trust add --crl of another CA's CRL" "is not a CRL of" \
	kmc trust add other "$P1/ca.crt" --crl "$P2/ca.crl" --store crlstore
check "the refusals changed nothing" unchanged
cp "$SYNC" "$T/sync.keep"
t "trust crl new pki2/ca.crl" kmc trust crl new "$P2/ca.crl" --store clients
t_out "trust list --json says it has one, and when it is next due" "true" \
	bash -c '"$1" --vault "$2" trust list --store clients --json |
	jq -r ".[] | select(.alias == \"new\") | .crl"' _ "$KMC" "$V"
check "the sync file (certificates only) is unchanged" cmp -s "$SYNC" "$T/sync.keep"
t_out "cert check --json lists the CRL as trust:clients/new/crl" "crl" \
	bash -c '"$1" --vault "$2" cert check --json | jq -r ".[] |
	select(.item == \"trust:clients/new/crl\") | .kind"' _ "$KMC" "$V"

# ---- cert check covers the trusted certificates --------------------------------

t_out "cert check --json lists each trusted one as trust:STORE/ALIAS" \
	"trust:clients/new trusted" bash -c '"$1" --vault "$2" cert check \
	--json | jq -r ".[] | select(.kind == \"trusted\") | .item + \" \" +
	.kind" | head -1' _ "$KMC" "$V"
t_rc 11 "a trusted CA within the horizon is due" \
	kmc cert check --within 60
check "and named" bash -c '"$1" --vault "$2" cert check --within 60 |
	grep -q "^trust:clients/new: trusted"' _ "$KMC" "$V"

done_testing
