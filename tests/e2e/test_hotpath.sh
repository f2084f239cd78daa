#!/usr/bin/env bash
# test_hotpath.sh - the code a server runs at boot stays together
# (tools/hotpath.ld, docs/performance.md row boot10k). The kernel maps
# 64 KiB of code around each page first run, so a server's RSS holds
# every 64 KiB block of the library its boot touches: the functions of
# kmc_vault_open, kmc_key_load and kmc_vault_close sit in one section
# of their own. A name on the list that the library no longer has (a
# function renamed or removed) would quietly put its code back among the
# rest; a build without -ffunction-sections would leave the section
# empty. Either fails here.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LD_LIST=$KMC_TOP/tools/hotpath.ld
SO=$KMC_BUILD/libkmcvault.so
AR=$KMC_BUILD/libkmcvault.a

# The names the list places: *(.text.NAME .text.NAME.*)
sed -n 's/^[[:space:]]*\*(\.text\.\([A-Za-z0-9_]*\) .*/\1/p' "$LD_LIST" | sort -u >"$T/listed"
check "the list names the functions of a boot (over 100)" \
	test "$(wc -l <"$T/listed")" -gt 100

# Every function the archive defines (global or static, and the
# compiler's clones of them: NAME.isra.0, NAME.part.0, NAME.constprop.0).
nm --defined-only "$AR" 2>/dev/null | awk '$2 ~ /^[tT]$/ { sub(/\..*/, "", $3); print $3 }' |
	sort -u >"$T/defined"
comm -23 "$T/listed" "$T/defined" >"$T/missing"
check "every name on the list is a function of the library (missing: $(tr '\n' ' ' <"$T/missing"))" \
	test ! -s "$T/missing"

# The shared library has the section, and the boot's functions are in it.
read -r start size < <(readelf -SW "$SO" | awk '$2 == ".text.kmc_boot" { print $4, $6 }')
check "libkmcvault.so has the boot's code section" test -n "${start:-}"
start=$((16#${start:-0}))
end=$((start + 16#${size:-0}))
inside() { # inside SYMBOL: its address lies in the boot's section
	local a
	a=$(nm -D --defined-only "$SO" | awk -v s="$1" '$3 == s { print $1 }')
	[ -n "$a" ] && [ $((16#$a)) -ge "$start" ] && [ $((16#$a)) -lt "$end" ]
}
for f in kmc_vault_open kmc_key_load kmc_item_get kmc_vault_close; do
	check "$f is in the boot's code section" inside "$f"
done
init_inside=no
inside kmc_vault_init && init_inside=yes
check "a function no boot runs (kmc_vault_init) is not" test "$init_inside" = no
# The section stays small enough to be one or two 64 KiB blocks, as
# built for release (instrumented by a sanitizer, the code is some three
# times larger: 198 KiB).
if grep -q -- -fsanitize "$KMC_BUILD/test-cflags" 2>/dev/null; then
	echo "# the section's size is not checked in an instrumented build"
else
	check "the boot's code section is at most 96 KiB ($(((end - start) / 1024)) KiB)" \
		test $((end - start)) -le $((96 * 1024))
fi

done_testing
