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
# waits on another. The longest start first, by the durations in
# tests/durations (a suite not listed there counts as the longest), so
# that no long suite is left to run alone at the end.
# KMC_TEST_JOBS=1 runs them one after another. KMC_TEST_MATCH='GLOB'
# runs only the suites whose names (e2e/test_cli.sh, unit/test_vault,
# valgrind/e2e/..., as printed) match the shell pattern GLOB;
# KMC_TEST_SKIP='GLOB ...' leaves out those that match any of its words.
# A failed suite's output is also kept in BUILD_DIR/test-failures/ (its
# name, / as _, .log), so that a failure that comes once in many runs
# can still be read after the terminal has scrolled past it.
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
	local skip skips
	# shellcheck disable=SC2053
	[[ $name == ${KMC_TEST_MATCH:-*} ]] || return 0
	# Split into words, never expanded as file names here.
	read -ra skips <<<"${KMC_TEST_SKIP:-}"
	for skip in "${skips[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $skip ]] && return 0
	done
	names+=("$name")
	cmds+=("$(printf '%q ' "$@")")
}

declare -A pid_suite=() pid_start=()
# Each suite's CPU seconds (user and system, its children's included)
# too, where GNU time is there: on a busy machine the seconds a suite
# took say little, the CPU it used what it costs. "=== NAME: N s, cpu M s".
timer=
[ ! -x /usr/bin/time ] || timer="/usr/bin/time -q -f '%U %S' -o"
cpu_of() { # cpu_of I: ", cpu M s" for suite I, or nothing
	[ -s "$logs/$1.cpu" ] || return 0
	awk '{ printf ", cpu %d s", $1 + $2 + 0.5 }' "$logs/$1.cpu"
}
# keep_failed I: suite I's output into $build/test-failures/.
keep_failed() {
	local f
	f="$build/test-failures/${names[$1]//\//_}.log"
	mkdir -p "$build/test-failures" && cp "$logs/$1.log" "$f" &&
		echo "=== ${names[$1]}: output kept in $f"
}
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
	echo "=== ${names[$i]}: $((SECONDS - pid_start[$pid])) s$(cpu_of "$i")$([ "$rc" = 0 ] || echo ", exit $rc")"
	[ "$rc" = 0 ] || keep_failed "$i"
	unset "pid_suite[$pid]" "pid_start[$pid]"
}

# expected[NAME]: suite NAME's seconds in tests/durations, the plain
# build's column, or under AddressSanitizer (ASAN_OPTIONS set, as make
# check-sanitize does) the sanitizer's where given.
declare -A expected=()
col=2
[ -z "${ASAN_OPTIONS:-}" ] || col=3
if [ -f "$top/tests/durations" ]; then
	while read -r name plain san _; do
		case $name in '' | '#'*) continue ;; esac
		[ "$col" = 3 ] && [ -n "${san:-}" ] && expected[$name]=$san || expected[$name]=$plain
	done <"$top/tests/durations"
fi

# run_queue: the queued suites, the longest expected first (those not in
# the table before all others; ties in the order queued).
run_queue() {
	local i order
	order=$(for i in "${!names[@]}"; do
		printf '%s %s\n' "${expected[${names[$i]}]:-999999}" "$i"
	done | sort -s -k1,1nr | cut -d' ' -f2)
	for i in $order; do
		while [ "${#pid_suite[@]}" -ge "$jobs_max" ]; do reap; done
		eval "${timer:+$timer $(printf %q "$logs/$i.cpu")} ${cmds[$i]}" \
			>"$logs/$i.log" 2>&1 </dev/null &
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
	for t in "$top"/tests/e2e/test_*.sh; do
		[ -f "$t" ] || continue
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
