#!/usr/bin/env bash
# test_mk_faults_rotate.sh - kmc mk rotate: each step failing, killed at
# each step, each allocation failing (mk_faults.sh). The master keys are
# then key 1 alone (the old set) or key 1 and an active key 2 (the new),
# as the message said; the config files are untouched; and kmc encrypt
# seals with the active key of whichever set it is.
. "$(dirname "${BASH_SOURCE[0]}")/mk_faults.sh"

active_seals() { # kmc encrypt names the active key of MKSET
	local want= got
	[[ ! $MKSET =~ \"id\":([0-9]+),\"active\":true ]] || want=${BASH_REMATCH[1]}
	got=$(look encrypt 'a new secret' 2>&1)
	[[ $got == "kmc:v1:$want:"* ]] || { echo "active key $want; kmc encrypt gave: $got" >&2; false; }
}
before_repair() { set_before_repair "$MK_one" "$MK_rotated"; }
as_told() {
	check "$AT: the master keys are the set the message said" set_as_told "$MK_one" "$MK_rotated"
}
after_repair() {
	check "$AT: the config files are untouched" conf_unchanged one
	check "$AT: the master keys are the old set or the new" set_old_or_new "$MK_one" "$MK_rotated"
	check "$AT: kmc encrypt seals with the active key" active_seals
}

sweep "mk rotate" one mk rotate

done_testing
