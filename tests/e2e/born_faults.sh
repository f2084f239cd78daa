# born_faults.sh - sourced by the test_born_faults_*.sh suites: the write
# commands of keys born in the vault broken at every step, by
# import_faults.sh's sweeps (read it first).
#
# The commands:
#   KEYGEN    kmc key gen server         a new key (state "fresh"): only
#                                        items change, in one store
#                                        transaction
#   CERTSET   kmc cert set server -s -c -r --conf
#                                        the certificate a CA signed for
#                                        that key (state "born"): items,
#                                        the keys folder made, the config
#                                        file's entries added
#
# The suites: test_born_faults_keygen.sh sweeps the steps and own
# allocations of key gen, _certset.sh the steps of cert set, _alloc.sh
# its own allocations. The key differs on every run of key gen, but not
# what the fingerprint shows of it (a P-256 PKCS#8 is 138 bytes); the
# keys folder's server.key of cert set is encrypted afresh on each run,
# so it is shown by its public key and the bundle's password (KEY_PASSWORDS).
#
# Time: make check fails and kills at one step in STEP_STRIDE and one own
# allocation in OWN_ALLOC_STRIDE, keeping each suite near 10 CPU-s; make
# check-full (KMC_STEP_STRIDE=1, KMC_ALLOC_STRIDE=1) tries each.
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

MIN_STEPS=4	# key gen is one store transaction: some 6 steps
STATUS_CHECK=1
BLAME_CHECK=1
CERT_INFO=server

KEYGEN=(key gen server)
load fresh
t "key gen server (for the later scenarios)" kmc "${KEYGEN[@]}"
t "its CSR" kmc csr server --subject /CN=localhost --san DNS:localhost --out "$T/born.csr"
BORN_CRT=$T/born.crt
check "the CA signs it" ossl x509 -req -in "$T/born.csr" -CA "$P/ca.crt" \
	-CAkey "$P/ca.key" -CAcreateserial -out "$BORN_CRT" -days 20 \
	-extfile "$P/ca.cnf" -extensions server
BPW=$T/born.pw
kmc password get server >"$BPW" 2>/dev/null
chmod 600 "$BPW"
KEY_PASSWORDS=$BPW
save born
CERTSET=(cert set server -s "$BORN_CRT" -c "$P/ca.crt" -r "$P/ca.crl" --conf "$CONF")
