#!/usr/bin/env bash
# run-tests.sh BUILD_DIR [unit|e2e|valgrind] - run the unit suites (cmocka
# binaries in BUILD_DIR/tests) and the end-to-end scripts
# (tests/e2e/test_*.sh), then print one closing line "N passed, N failed"
# over all suites. valgrind: the unit suites and $VALGRIND_E2E under
# memcheck (every kmc the scripts run goes through it, see lib.sh).
set -u
build=${1:?usage: run-tests.sh BUILD_DIR [unit|e2e]}
which=${2:-all}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
passed=0
failed=0
failed_names=()

run_suite() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
}

VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
	--suppressions="$top/tools/valgrind.supp")

if [ "$which" = valgrind ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		run_suite "valgrind/unit/$(basename "$t")" "${VG[@]}" "$t"
	done
	for name in ${VALGRIND_E2E:-}; do
		t=$top/tests/e2e/$name.sh
		[ -f "$t" ] || continue
		run_suite "valgrind/e2e/$name.sh" env KMC_BUILD="$build" \
			KMC_TOP="$top" KMC_VALGRIND=1 bash "$t"
	done
fi

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		run_suite "unit/$(basename "$t")" "$t"
	done
fi
# Suites that need the LD_PRELOAD fault shim, which a sanitizer runtime
# displaces; they run in make check.
shim_suites=" test_faults.sh test_import_faults.sh test_protector_faults.sh test_secret_hygiene.sh "

if [ "$which" = all ] || [ "$which" = e2e ]; then
	for t in "$top"/tests/e2e/test_*.sh; do
		[ -f "$t" ] || continue
		if [ -n "${KMC_SANITIZE:-}" ] && [[ $shim_suites == *" $(basename "$t") "* ]]; then
			echo "=== e2e/$(basename "$t"): skipped under sanitizers (needs the fault shim; runs in make check)"
			continue
		fi
		run_suite "e2e/$(basename "$t")" env KMC_BUILD="$build" \
			KMC_TOP="$top" bash "$t"
	done
fi

echo
[ ${#failed_names[@]} -eq 0 ] || printf 'failed suite: %s\n' "${failed_names[@]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
