package conditions

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// versionFunctions declares versionLess(a, b): whether version a is older
// than version b. Policies over SBOMs need it ("no log4j-core older than
// 2.17.1"), and comparing version strings as strings gets it wrong both ways
// ("2.8.2" > "2.17.1", and a prefix test misses 2.8.2 and catches 2.18.0).
func versionFunctions() cel.EnvOption {
	return cel.Function("versionLess",
		cel.Overload("versionLess_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				as, aok := a.Value().(string)
				bs, bok := b.Value().(string)
				if !aok || !bok {
					return types.NewErr("versionLess takes two strings")
				}
				c, err := CompareVersions(as, bs)
				if err != nil {
					return types.NewErr("versionLess: %v", err)
				}
				return types.Bool(c < 0)
			})))
}

// CompareVersions orders two versions as SemVer 2.0 does, extended to the
// Maven-style versions SBOMs carry: an optional leading "v", any number of
// dot-separated numeric parts (missing parts are 0, so 2.17 = 2.17.0), then
// an optional "-prerelease" that sorts before the release (2.0-beta9 < 2.0)
// and an ignored "+build". It returns -1, 0 or 1. Anything else — a distro
// revision with an epoch ("1:2.3-4"), a qualifier without a dash ("2.0rc1",
// "1.0.Final"), NOASSERTION, "" — is an error rather than a guess, so a
// condition over a version it cannot read fails instead of passing.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := 0; i < max(len(va.nums), len(vb.nums)); i++ {
		x, y := part(va.nums, i), part(vb.nums, i)
		if x != y {
			return cmpInt(x < y), nil
		}
	}
	return comparePre(va.pre, vb.pre), nil
}

type version struct {
	nums []uint64
	pre  []string // nil: a release
}

func parseVersion(s string) (version, error) {
	bad := func(why string) (version, error) {
		return version{}, fmt.Errorf("%s is not a version (%s): expected numbers separated by dots, optionally -prerelease", strconv.Quote(truncate(s, 40)), why)
	}
	v := strings.TrimPrefix(s, "v")
	v, _, _ = strings.Cut(v, "+")
	v, pre, hasPre := strings.Cut(v, "-")
	if v == "" {
		return bad("no number")
	}
	var out version
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || p == "" {
			return bad("part " + strconv.Quote(truncate(p, 20)) + " is not a number")
		}
		out.nums = append(out.nums, n)
	}
	if hasPre {
		if pre == "" {
			return bad("empty prerelease")
		}
		out.pre = strings.Split(pre, ".")
		for _, id := range out.pre {
			if id == "" {
				return bad("empty prerelease part")
			}
		}
	}
	return out, nil
}

func part(nums []uint64, i int) uint64 {
	if i < len(nums) {
		return nums[i]
	}
	return 0
}

// comparePre orders prereleases as SemVer 2.0 §11: a release is newer than
// any prerelease; numeric identifiers compare as numbers and are older than
// alphanumeric ones, which compare as strings; a longer list is newer when
// all before it are equal.
func comparePre(a, b []string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	for i := 0; i < min(len(a), len(b)); i++ {
		x, xerr := strconv.ParseUint(a[i], 10, 64)
		y, yerr := strconv.ParseUint(b[i], 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if x != y {
				return cmpInt(x < y)
			}
		case xerr == nil:
			return -1
		case yerr == nil:
			return 1
		case a[i] != b[i]:
			return cmpInt(a[i] < b[i])
		}
	}
	if len(a) == len(b) {
		return 0
	}
	return cmpInt(len(a) < len(b))
}

func cmpInt(less bool) int {
	if less {
		return -1
	}
	return 1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
