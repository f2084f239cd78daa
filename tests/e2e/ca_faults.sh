# ca_faults.sh - sourced by the test_ca_faults_*.sh suites: the commands
# that write a CA or what it issues (kmc ca init, cert issue, ca revoke,
# ca crl) broken at every step by the fault shim (tests/faultinject.c):
# each file-system step failing (ENOSPC or EIO), the process killed at
# each step (KMC_FAULT_KILL=1), then allocations failing
# (KMC_FAULT_OPS=alloc): kmc's own (KMC_FAULT_NEAR) and all of them,
# OpenSSL's included.
#
# The vault: CA root; bundles db (a server, with a config file app.conf
# that holds a line of its own) and app (a client) it issued.
#
# Keys, serials, signatures and times are new at every run, so what the
# user sees of a state (fingerprint) is taken with them blanked: kmc list
# (name, type, version), kmc ca list (serials and dates as S and D), the
# files of the keys folders (name and mode), app.conf (the kmc: string
# as X), and the CRL file (that its number is the CA's last, and that
# the CA signed it; CRL numbers, from the clock, as N). The
# record and the bundle are one transaction, so a state where the CA
# notes a serial without its bundle (or the other way) is neither. After
# every broken run:
#   - exit 0 only with the new state at once; a failure exits below 128,
#     its message starts "kmc: " and names the fault (allocations: no
#     memory error report), never both "nothing was changed" and "kmc
#     repair";
#   - before any writable open (what a server reading the vault sees):
#     the CA and its bundles are the old ones or the new;
#   - after kmc repair (the next writable open): the old state or the
#     new, never a mix; the old when the message said nothing was
#     changed, the new with a message naming kmc repair when a failure
#     went through after all; kmc status healthy, no change pending, no
#     .NAME.kmc-new nor .NAME.tmp-* left; the new state with a higher
#     store generation than the old; from the old state, the command run
#     again succeeds.
#
# make check samples (make check-full, KMC_STEP_STRIDE=1 and
# KMC_ALLOC_STRIDE=1, runs each): of the steps, one in FAIL_STRIDE (3)
# failing and one in KILL_STRIDE (4) killed; of kmc's own allocations,
# one in MSG_STRIDE (3) past those of opening the vault failing with its
# message checked, and the state after one in OWN_STRIDE (12); of all
# allocations, about ALLOC_RUNS (4). Under make check-sanitize, half as
# many allocation samples, and no kills.
#
# The sweeps and the checks after each run: sweeplib.sh. This file: the
# vault, what the user sees of it, and how a suite makes a mix (MIX).
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sweeplib.sh"

CONF=$T/app.conf
OUTCRL=$T/root.crl	# the file kmc ca crl writes

# ---- material ---------------------------------------------------------------------

t "kmc init" look init
t "ca init root" look ca init root --subject "/CN=Fault Root CA"
printf '# app.conf\nport = 5432\n' >"$CONF"
t "cert issue db --server --conf app.conf" look cert issue db --ca root --server \
	--subject /CN=db.example --conf "$CONF"
t "cert issue app --client" look cert issue app --ca root --client --subject /CN=app

# ---- states -----------------------------------------------------------------------
# A state: a copy of the vault and the files beside it; load puts it back.
save() {
	rm -rf "$T/saved.$1" && mkdir "$T/saved.$1" && cp -a "$V" "$CONF" "$T/saved.$1/" &&
		state_save "$V" "$T/saved.$1.state"
}
load() {
	rm -rf "$V" "$CONF" "$OUTCRL" && cp -a "$T/saved.$1/vault" "$T/saved.$1/app.conf" "$T/" &&
		state_load "$V" "$T/saved.$1.state"
}
save issued

# ---- what the user sees -----------------------------------------------------------
# A CRL number is the clock's microseconds (13 digits and more) or one
# above the CA's last: N, checked against the file apart.
blank() { sed -E 's/[0-9A-F]{40}/S/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/D/g; s/kmc:v1:[^ ]*/X/g; s/[0-9]{13,}/N/g'; }
# crl_is_last: whether the CRL file's number is the last the CA gave.
crl_is_last() {
	local n next
	n=$(openssl crl -in "$OUTCRL" -noout -crlnumber 2>&1) || { echo "$n"; return; }
	next=$(look ca list root --json 2>&1 | jq -r '.[0].next_crl' 2>&1)
	[[ $next =~ ^[0-9]+$ ]] && [ "$((16#${n#crlNumber=0x}))" = "$((next - 1))" ] &&
		echo "the CA's last CRL number" || echo "$n, the CA's next: $next"
}
# view: what a reader of the vault sees, into VIEW.
view() {
	{
		echo "== list"
		# Name, type and version; a failure whole, for the diff to show.
		if look list >"$TMPF.list" 2>&1; then
			awk '{ print $1, $2, $3 }' "$TMPF.list"
		else
			echo "kmc list: exit $?"
			cat "$TMPF.list"
		fi
		echo "== ca list (serials are random: in no order)"
		look ca list 2>&1 | blank | sort
	} >"$TMPF"
	slurp "$TMPF"
	VIEW=$REPLY
}
# fingerprint: the view, and the files, blanked, into FP.
fingerprint() {
	view
	{
		echo "== keys"
		[ ! -d "$V/keys" ] || (cd "$V/keys" && find . -printf '%p %m\n' | sort)
		echo "== app.conf $(stat -c %a "$CONF" 2>&1)"
		blank <"$CONF"
		echo "== root.crl"
		if [ -e "$OUTCRL" ]; then
			stat -c %a "$OUTCRL"
			crl_is_last
			openssl crl -in "$OUTCRL" -noout -CAfile "$V/keys/db/ca.crt" 2>&1
		fi
	} >"$TMPF" 2>&1
	slurp "$TMPF"
	FP=$VIEW$'\n'$REPLY
}
VIEWED='CAs and bundles'	# "a reader sees the old CAs and bundles or the new"
STAGED_PROBE=$T/.app.conf.kmc-new
FAULTS_MSGS=${CA_FAULTS_MSGS:-}
# What an allocation failing must not be called: something wrong with
# the input or the vault.
BLAME_RE='would be over|damaged|not a (CA )?certificate|holds [0-9]+ certificates|already (holds|revoked)|holds no|issued no|not valid yet|has expired|RFC 5280 allows|is older than|exists|--subject|--san|--days|--type'
# Of kmc's own allocations past the open, the message of one in
# MSG_STRIDE is checked in make check (cert issue makes some 160: each
# would take a minute of CPU), each in make check-full.
MSG_STRIDE=${KMC_ALLOC_STRIDE:-3}
# Of all allocations, the last of kmc cert issue is OpenSSL's own at
# exit, after main returned: OPENSSL_cleanup()'s CRYPTO_free_ex_data()
# copy, whose failure makes OpenSSL skip freeing its library context,
# and LeakSanitizer then reports every decoder, encoder and digest
# it cached (none of them kmc's to free). Nothing of kmc runs there.
EXIT_ALLOCS=1
# Staged files in the keys folders too (the vault's own and the bundles').
more_staged() { left+=("$V"/keys/.*.kmc-new "$V"/keys/*/.*.kmc-new); }

# The checks must tell a mix from either state: MIX, set by the suite, a
# command that makes one of the new state (the vault's change without
# the files', or the other way).
MIX=
make_mix() {
	[ -z "$MIX" ] || { eval "$MIX"; MIXED=$MIX; }
}
