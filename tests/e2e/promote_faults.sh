# promote_faults.sh - sourced by the test_promote_faults_*.sh suites: the
# write commands of staged rotation broken at every step, by
# import_faults.sh's sweeps (read it first). Besides what those compare,
# the state includes what `kmc cert info server --json` serves (CERT_INFO),
# and `kmc status` must pass after each kmc repair (STATUS_CHECK).
#
# The commands:
#   STAGE     kmc import --stage       the replacement key and certificate,
#                                      staged over the bundle (state
#                                      "imported"): only items change
#   PROMOTE   kmc promote server       the staged version made live (state
#                                      "staged"): items, the keys folder,
#                                      the config file's server_key_mm
#                                      and crl entries
#   PROMOTE   kmc promote server       also: a staged version of a bundle
#             (from "staged_new")      not live yet (staged into state
#                                      "fresh" with --conf): the keys
#                                      folder made, the config file's
#                                      entries added
#   PREVIOUS  kmc promote server --previous
#                                      back to the version before (state
#                                      "promoted")
#   RENEW     kmc cert renew server -s -r  a new certificate for the
#                                      stored key, and a new CRL (state
#                                      "imported")
#
# The suites: test_promote_faults_stage.sh, _promote.sh, _previous.sh,
# _renew.sh sweep the steps of each command, _alloc.sh the allocations.
#
# Time: a promote counts some 40 steps and 240 allocations of its own,
# and each broken run costs some 0.4 CPU-s with its inspections (0.8
# under allocation faults). make check fails and kills at one step in
# STEP_STRIDE and one own allocation in OWN_ALLOC_STRIDE, to keep each
# suite near 10 CPU-s; make check-full (KMC_STEP_STRIDE=1,
# KMC_ALLOC_STRIDE=1) tries each, and every allocation of a promote.
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

MIN_STEPS=4	# a staging is one store transaction: some 6 steps
CERT_INFO=server
KEY_PASSWORDS="$PW $PW2"
STATUS_CHECK=1
BLAME_CHECK=1
STEP_STRIDE=7
OWN_ALLOC_STRIDE=50

# A new certificate for the server's key (its CSR again), from the same CA.
RENEWED=$T/renewed.crt
check "made a new certificate for the server's key" ossl x509 -req -in "$P/server.csr" \
	-CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$RENEWED" -days 20 \
	-extfile "$P/ca.cnf" -extensions server

STAGE=(import --stage -c "$P/ca.crt" -s "$R.crt" -k "$R.key" --password-file "$PW2")
PROMOTE=(promote server)
PREVIOUS=(promote server --previous)
RENEW=(cert renew server -s "$RENEWED" -r "$NEWCRL")

# staged: the replacement staged over "imported"; promoted: then made
# live; staged_new: the bundle staged in a vault that serves nothing yet.
t "stage the replacement (for the later scenarios)" kmc "${STAGE[@]}"
save staged
t "promote it (for the later scenarios)" kmc "${PROMOTE[@]}"
save promoted
load fresh
t "stage a bundle not live yet (for the later scenarios)" kmc "${IMPORT[@]}" --stage
save staged_new
