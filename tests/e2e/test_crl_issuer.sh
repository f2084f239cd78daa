#!/usr/bin/env bash
# test_crl_issuer.sh - a CA file may hold two certificates of one name: a
# CA given a new key, its old and new certificates side by side while
# clients move over. A CRL signed by either key is the CA's, in either
# order of the file, for kmc import -r and kmc crl update; one signed by
# neither is refused (exit 9) naming the CRL file and the CA file, and
# nothing changes. Before, only the last certificate of the CRL's issuer
# name was tried, and the CRL of the first was refused as not the CA's.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
OLD=$T/old
NEW=$T/new
OTHER=$T/other
kmc() { "$KMC" --vault "$V" "$@"; }
# Three keys, one CA name: the CA before and after its new key, and a
# stranger that took the same name.
"$KMC_TOP/tools/mkpki.sh" "$OLD" 'server-key-password' >/dev/null
"$KMC_TOP/tools/mkpki.sh" "$NEW" 'server-key-password' >/dev/null
"$KMC_TOP/tools/mkpki.sh" "$OTHER" 'server-key-password' >/dev/null
PW=$T/pw
secret_file "$PW" 'server-key-password'
cat "$OLD/ca.crt" "$NEW/ca.crt" >"$T/old-first.crt"
cat "$NEW/ca.crt" "$OLD/ca.crt" >"$T/new-first.crt"
seen() { snapshot "$V"; }
imp() { # imp NAME CA_FILE CRL_FILE
	kmc import -c "$2" -s "$OLD/server.crt" -k "$OLD/server.key" -r "$3" \
		--password-file "$PW" --name "$1"
}

t "init" kmc init
t "import -r: the old key's CRL, its certificate first in the CA file" \
	imp a "$T/old-first.crt" "$OLD/ca.crl"
t "import -r: the old key's CRL, its certificate last in the CA file" \
	imp b "$T/new-first.crt" "$OLD/ca.crl"
t "import -r: the new key's CRL, its certificate first in the CA file" \
	imp c "$T/new-first.crt" "$NEW/ca.crl"
t "import -r: the new key's CRL, its certificate last in the CA file" \
	imp d "$T/old-first.crt" "$NEW/ca.crl"
before=$(seen)
t_err 9 "import -r: a CRL of the same name signed by neither key is refused" \
	"$OTHER/ca.crl is not signed by the CA in $T/old-first.crt" \
	imp e "$T/old-first.crt" "$OTHER/ca.crl"
check "... and nothing was imported" test "$(seen)" = "$before"
t_err 9 "crl update: a CRL signed by neither key is refused" \
	"$OTHER/ca.crl is not signed by the CA in" \
	kmc crl update b -r "$OTHER/ca.crl"
check "... and nothing changed" test "$(seen)" = "$before"
# A newer CRL of the old key, then one of the new key, for the bundle
# whose CA file lists the new key's certificate first.
"$OLD/crl.sh" "$OLD/client.crt"
t "crl update: the old key's newer CRL" kmc crl update b -r "$OLD/ca.crl"
t "crl update: the new key's CRL" kmc crl update b -r "$NEW/ca.crl"

done_testing
