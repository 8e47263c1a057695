package conditions

import (
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		// The Log4Shell lines: string order gets these wrong.
		{"2.8.2", "2.17.1", -1},
		{"2.18.0", "2.17.1", 1},
		{"2.17.1", "2.17.1", 0},
		{"2.17.0", "2.17.1", -1},
		{"2.12.4", "2.17.1", -1},
		{"2.3.2", "2.17.1", -1},
		{"2.3.2", "2.3.1", 1},
		{"2.12.4", "2.12.10", -1},
		{"2.0-beta9", "2.17.1", -1},
		{"2.0-beta9", "2.0", -1},
		{"2.0-rc1", "2.0-beta9", 1},
		{"3.0.0-beta2", "2.17.1", 1},
		// Missing parts are zero; a leading v and +build are ignored.
		{"2.17", "2.17.0", 0},
		{"2", "2.0.1", -1},
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3+build.5", "1.2.3", 0},
		{"1.10.0", "1.9.9", 1},
		// SemVer §11 prerelease order.
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-SNAPSHOT", "1.0.0", -1},
		{"18446744073709551615.0", "1.0", 1},
	}
	for _, c := range cases {
		got, err := CompareVersions(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
		if back, _ := CompareVersions(c.b, c.a); back != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d; want %d", c.b, c.a, back, -c.want)
		}
	}
}

// Versions it cannot read are errors, never a guess either way.
func TestCompareVersionsRefuses(t *testing.T) {
	for _, v := range []string{"", "v", "NOASSERTION", "1:2.3-4", "2.0rc1", "1.0.Final", "1..2", ".1", "1.", "1.2-", "1.2-a..b", "-1", "1.2.3 ", "18446744073709551616"} {
		if _, err := CompareVersions(v, "1.0"); err == nil || !strings.Contains(err.Error(), "is not a version") {
			t.Errorf("CompareVersions(%q, 1.0): err %v, want 'is not a version'", v, err)
		}
		if _, err := CompareVersions("1.0", v); err == nil {
			t.Errorf("CompareVersions(1.0, %q): no error", v)
		}
	}
}

// versionLess in a condition: an SBOM's package versions against a floor,
// and a version it cannot read fails the condition, saying why.
func TestVersionLessCondition(t *testing.T) {
	const expr = `!predicate.packages.exists(p, p.name == "log4j-core" && versionLess(p.versionInfo, "2.17.1"))`
	cond, err := Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		version string
		ok      bool
		detail  string
	}{
		{"2.8.2", false, "saw predicate.packages"},
		{"2.17.0", false, ""},
		{"2.0-beta9", false, ""},
		{"2.17.1", true, ""},
		{"2.18.0", true, ""},
		{"NOASSERTION", false, `"NOASSERTION" is not a version`},
	} {
		in := Input{Statement: map[string]any{"predicate": map[string]any{"packages": []any{
			map[string]any{"name": "app", "versionInfo": "sha256:ab"},
			map[string]any{"name": "log4j-core", "versionInfo": c.version},
		}}}}
		ok, detail := cond.Eval(in)
		if ok != c.ok || !strings.Contains(detail, c.detail) {
			t.Errorf("log4j-core %s: Eval = %v %q, want %v containing %q", c.version, ok, detail, c.ok, c.detail)
		}
	}
	if _, err := Compile(`versionLess(1, "2")`); err == nil {
		t.Error("versionLess(int, string) compiled")
	}
	if _, err := Compile(`versionLess("1")`); err == nil {
		t.Error("versionLess with one argument compiled")
	}
}
