#!/usr/bin/env bash
# test_crl_file.sh - a CRL file the user names holds the one CRL: a second
# CRL after it, or a PEM block cut short, is refused (exit 2) naming the
# file, by kmc import -r, kmc crl update and kmc trust add --crl / trust
# crl, and nothing changes. Before, only the first CRL was checked while
# the whole file was kept and copied out for servers, which read every
# block (a cut one stops nginx from loading it). Text around the one
# block is still fine, as for certificates.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }
"$KMC_TOP/tools/mkpki.sh" "$P" 'server-key-password' >/dev/null
PW=$T/pw
secret_file "$PW" 'server-key-password'
# The CA's CRL, then: a cut second block; a second CRL; text around it.
{ cat "$P/ca.crl"; printf -- '-----BEGIN X509 CRL-----\nMIIB\n'; } >"$T/cut.crl"
cat "$P/ca.crl" "$P/ca.crl" >"$T/two.crl"
{ echo "the CA's CRL"; cat "$P/ca.crl"; echo "(end)"; } >"$T/text.crl"
REFUSED='PEM blocks, and a CRL file holds the one CRL'
seen() { snapshot "$V"; }

t "init" kmc init
t_err 2 "import -r with a cut second CRL block is refused, naming the file" \
	"$T/cut.crl: 2 $REFUSED" \
	kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$T/cut.crl" --password-file "$PW" --name web
check "... and nothing was imported" bash -c '! "$1" --vault "$2" list | grep -q web' _ "$KMC" "$V"
t "import -r with the CA's CRL" \
	kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$PW" --name web
before=$(seen)
t_err 2 "crl update with a cut second block is refused" "$T/cut.crl: 2 $REFUSED" \
	kmc crl update web -r "$T/cut.crl"
t_err 2 "crl update with two CRLs is refused" "$T/two.crl: 2 $REFUSED" \
	kmc crl update web -r "$T/two.crl"
check "... and nothing changed" test "$(seen)" = "$before"
t "crl update with text around the one CRL is taken" kmc crl update web -r "$T/text.crl"
t_err 2 "trust add --crl with two CRLs is refused" "$T/two.crl: 2 $REFUSED" \
	kmc trust add root "$P/ca.crt" --crl "$T/two.crl"
t "trust add without a CRL" kmc trust add root "$P/ca.crt"
t_err 2 "trust crl with a cut second block is refused" "$T/cut.crl: 2 $REFUSED" \
	kmc trust crl root "$T/cut.crl"
t "trust crl with the CA's CRL" kmc trust crl root "$P/ca.crl"

done_testing
