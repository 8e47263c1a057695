#!/bin/sh
# Prints make test's one summary of the tests skipped for a missing
# component, from the records in FILE ("package TestName<TAB>reason", written
# by internal/testing/testenv.Missing and tools/system-deps.sh), grouped by reason.
#
#   tools/skipped-tests.sh FILE
set -eu
f=$1
if [ ! -s "$f" ]; then
	echo "make test: no test was skipped for a missing component"
	exit 0
fi
n=$(sort -u "$f" | wc -l | tr -d ' ')
tests="tests"
[ "$n" != 1 ] || tests="test"
echo
echo "make test: $n $tests skipped because something they need is missing (with CI=true they fail instead):"
sort -u "$f" | awk -F '\t' '
{
	if (!($2 in count)) order[++k] = $2
	count[$2]++
	if (count[$2] <= 5) tests[$2] = tests[$2] "    " $1 "\n"
}
END {
	for (i = 1; i <= k; i++) {
		r = order[i]
		printf "  %s\n%s", r, tests[r]
		if (count[r] > 5) printf "    … and %d more\n", count[r] - 5
	}
}'
