#!/usr/bin/env bash
# run-tests.sh BUILD_DIR [unit|e2e|valgrind] - run the unit suites (cmocka
# binaries in BUILD_DIR/tests) and the end-to-end scripts
# (tests/e2e/test_*.sh), then print one closing line "N passed, N failed"
# over all suites. valgrind: the unit suites and $VALGRIND_E2E under
# memcheck (every kmc the scripts run goes through it, see lib.sh).
#
# Suites run side by side, KMC_TEST_JOBS at a time (default: one per
# CPU); each one's output is printed whole when it ends. Every suite has
# its own temp dir, tokens and servers on ports of its own, so none
# waits on another; the longest (the fault suites) start first.
# KMC_TEST_JOBS=1 runs them one after another.
set -u
build=${1:?usage: run-tests.sh BUILD_DIR [unit|e2e|valgrind]}
which=${2:-all}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
jobs_max=${KMC_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || jobs_max=1
passed=0
failed=0
failed_names=()
logs=$(mktemp -d "${TMPDIR:-/tmp}/kmc-tests.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM

# Queued suites: names[i] and the command line cmds[i] (one string, the
# words quoted with printf %q).
names=()
cmds=()
queue() {
	local name=$1
	shift
	names+=("$name")
	cmds+=("$(printf '%q ' "$@")")
}

declare -A pid_suite=() pid_start=() queued=()
# reap: wait for any running suite, print its output and tally it.
reap() {
	local pid rc i
	wait -n -p pid
	rc=$?
	[ -n "${pid:-}" ] && [ -n "${pid_suite[$pid]:-}" ] || return 0
	i=${pid_suite[$pid]}
	echo "=== ${names[$i]}"
	cat "$logs/$i.log"
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("${names[$i]}")
	fi
	echo "=== ${names[$i]}: $((SECONDS - pid_start[$pid])) s$([ "$rc" = 0 ] || echo ", exit $rc")"
	unset "pid_suite[$pid]" "pid_start[$pid]"
}

run_queue() {
	local i
	for i in "${!names[@]}"; do
		while [ "${#pid_suite[@]}" -ge "$jobs_max" ]; do reap; done
		eval "${cmds[$i]}" >"$logs/$i.log" 2>&1 </dev/null &
		pid_suite[$!]=$i
		pid_start[$!]=$SECONDS
	done
	while [ "${#pid_suite[@]}" -gt 0 ]; do reap; done
}

VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
	--suppressions="$top/tools/valgrind.supp")

if [ "$which" = valgrind ]; then
	for name in ${VALGRIND_E2E:-}; do
		t=$top/tests/e2e/$name.sh
		[ -f "$t" ] || continue
		queue "valgrind/e2e/$name.sh" env KMC_BUILD="$build" \
			KMC_TOP="$top" KMC_VALGRIND=1 bash "$t"
	done
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		queue "valgrind/unit/$(basename "$t")" "${VG[@]}" "$t"
	done
fi

if [ "$which" = all ] || [ "$which" = e2e ]; then
	# The fault suites, the longest, first.
	for t in "$top"/tests/e2e/test_*faults.sh "$top"/tests/e2e/test_*.sh; do
		[ -f "$t" ] || continue
		[ -z "${queued[$t]:-}" ] || continue
		queued[$t]=1
		queue "e2e/$(basename "$t")" env KMC_BUILD="$build" \
			KMC_TOP="$top" bash "$t"
	done
fi

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		queue "unit/$(basename "$t")" "$t"
	done
fi

run_queue
# A run that ran nothing (a broken build dir, a typo) has not passed.
[ $((passed + failed)) -gt 0 ] || { echo "no suite ran" >&2; failed=1; failed_names+=("(none ran)"); }
echo
[ ${#failed_names[@]} -eq 0 ] || printf 'failed suite: %s\n' "${failed_names[@]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
