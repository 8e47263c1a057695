package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
)

const testdata = "../../testdata/policies"

func TestLoadProductionSample(t *testing.T) {
	path, pubs := stagePolicy(t, filepath.Join(testdata, "valid", "production.yaml"))
	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Version != 1 || p.File != path || p.Dir != filepath.Dir(path) {
		t.Errorf("Version/File/Dir = %d %q %q", p.Version, p.File, p.Dir)
	}
	if len(p.Keys) != 4 || len(p.TimestampAuthorities) != 1 || len(p.Rules) != 5 {
		t.Fatalf("got %d keys, %d TSAs, %d rules", len(p.Keys), len(p.TimestampAuthorities), len(p.Rules))
	}

	// Keys resolve, by name and by id, to the generated public keys.
	for name, pub := range pubs {
		k := p.Key(name)
		if k == nil {
			t.Fatalf("Key(%q) = nil", name)
		}
		if k.Name != name || k.ID != keyID(t, pub) || k.Public == nil {
			t.Errorf("Key(%q) = %+v", name, k)
		}
		if p.KeyByID(k.ID) != k {
			t.Errorf("KeyByID(%s) is not Key(%q)", k.ID, name)
		}
	}
	if p.Key("nope") != nil || p.KeyByID("nope") != nil {
		t.Error("lookups of unknown keys should return nil")
	}
	rel := p.Keys[0]
	if rel.Line != 4 || rel.Path != "keys[0]" || rel.File != filepath.Join(p.Dir, "keys", "release-2026.pub") || rel.PublicKey != "keys/release-2026.pub" {
		t.Errorf("keys[0] = %+v", rel)
	}
	wantFrom := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if tk := p.Key("release-2026"); tk.ValidFrom == nil || !tk.ValidFrom.Equal(wantFrom) || tk.ValidUntil == nil || tk.RevokedAt != nil {
		t.Errorf("release-2026 window = %v %v %v", tk.ValidFrom, tk.ValidUntil, tk.RevokedAt)
	}
	if tk := p.Key("release-2025"); tk.RevokedAt == nil || !tk.RevokedAt.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("release-2025 revokedAt = %v", tk.RevokedAt)
	}
	if tk := p.Key("ci-2026"); !tk.ValidFrom.Equal(time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("quoted RFC 3339 time with offset: %v", tk.ValidFrom)
	}
	if tsa := p.TimestampAuthorities[0]; tsa.Name != "corp-tsa" || tsa.File != filepath.Join(p.Dir, "tsa-chain.pem") {
		t.Errorf("TSA = %+v", tsa)
	}

	prod := p.Rule("production")
	if prod == nil || prod.Mode != ModeEnforce || prod.Signatures == nil {
		t.Fatalf("production = %+v", prod)
	}
	if s := prod.Signatures; s.Threshold != 2 || !s.RequireTimestamp || strings.Join(s.Keys, ",") != "release-2026,security-2026" {
		t.Errorf("production.signatures = %+v", s)
	}
	if len(prod.Attestations) != 2 {
		t.Fatalf("production attestations = %d", len(prod.Attestations))
	}
	prov := prod.Attestations[0]
	if prov.Type != "https://slsa.dev/provenance/v1" || prov.Threshold != 1 || len(prov.Conditions) != 1 {
		t.Errorf("provenance = %+v", prov)
	}
	if c := prov.Conditions[0]; c.Expr != `predicate.runDetails.builder.id.startsWith("https://github.com/acme/")` ||
		c.Line != 31 || c.Path != "policies[0].attestations[0].conditions[0]" {
		t.Errorf("condition = %+v", c)
	}
	if r := p.Rule("staging"); r.Mode != ModeAudit || r.Signatures.Threshold != 1 || r.Attestations != nil {
		t.Errorf("staging = %+v", r)
	}
	if r := p.Rule("local-dev"); r.Signatures != nil || len(r.Attestations) != 1 {
		t.Errorf("local-dev = %+v", r)
	}
	if s := p.Rule("dockerhub-official").Scopes[0]; s.Raw != "docker.io/nginx" || s.Pattern != "index.docker.io/library/nginx" {
		t.Errorf("docker hub scope = %+v", s)
	}

	for repo, want := range map[string]string{
		"registry.example.com/prod/web":          "production",
		"registry.example.com/prod/team/web/api": "production",
		"registry.example.com/prod/payments":     "payments",
		"registry.example.com/prod/canary/web":   "staging",
		"registry.example.com/staging/web":       "staging",
		"index.docker.io/library/nginx":          "dockerhub-official",
		"docker.io/library/redis":                "dockerhub-official",
		"nginx":                                  "dockerhub-official",
		"127.0.0.1:5000/team/app":                "local-dev",
		"localhost:5000/a/b/c":                   "local-dev",
	} {
		r, err := p.Match(repo)
		if err != nil || r.Name != want {
			t.Errorf("Match(%q) = %v, %v; want %s", repo, r, err, want)
		}
	}
	if _, err := p.Match("registry.example.com/dev/web"); !errors.Is(err, ErrNoMatchingScope) {
		t.Errorf("Match(dev/web) error = %v, want ErrNoMatchingScope", err)
	}
}

func TestLoadKMSSample(t *testing.T) {
	p, err := Load(filepath.Join(testdata, "valid", "kms.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, k := range p.Keys {
		if k.KMSRef == "" || k.KMSRef != k.PublicKey || k.Trusted != nil || k.File != "" {
			t.Errorf("key %s = %+v: want an unresolved KMS ref", k.Name, k)
		}
		if p.Key(k.Name) != nil {
			t.Errorf("Key(%q) should be nil until the KMS ref is resolved", k.Name)
		}
	}
	if r, err := p.Match("ghcr.io/acme/anything/at/all"); err != nil || r.Name != "everything" {
		t.Errorf("Match = %v, %v", r, err)
	}
}

// wantLine matches "# want: LINE: PATH: TEXT" in invalid samples.
var wantLine = regexp.MustCompile(`(?m)^# want: (\d+): ([^:]*): (.*)$`)

func TestInvalidSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid samples: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []Problem
			for _, m := range wantLine.FindAllStringSubmatch(string(data), -1) {
				line, _ := strconv.Atoi(m[1])
				want = append(want, Problem{File: file, Line: line, Path: m[2], Msg: m[3]})
			}
			if len(want) == 0 {
				t.Fatal("sample has no # want: lines")
			}
			_, err = Load(file)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Errorf("kind = %v, want Input", k)
			}
			checkProblems(t, problemsOf(t, err), want)
		})
	}
}

// checkProblems requires got to be exactly want, in order (Msg as substring).
func checkProblems(t *testing.T, got Problems, want []Problem) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got[i], want[i]
		ok = g.File == w.File && g.Line == w.Line && g.Path == w.Path && strings.Contains(g.Msg, w.Msg)
	}
	if !ok {
		var b strings.Builder
		for _, g := range got {
			b.WriteString("\n  got:  " + g.String())
		}
		for _, w := range want {
			b.WriteString("\n  want: " + w.String())
		}
		t.Errorf("problems differ:%s", b.String())
	}
}

func TestLoadErrorMessage(t *testing.T) {
	dir := writeTree(t, map[string][]byte{"trust.yaml": []byte(`version: 1
keys:
  - name: a
    publicKey: hashivault://a
  - name: b
    publickey: hashivault://b
policies:
  - name: prod
    scopes: ["registry.example.com/prod/**"]
    signatures:
      keys: [a, b]
      threshold: 3
`)})
	t.Chdir(dir)
	_, err := Load("trust.yaml")
	want := `trust.yaml: 2 problems in the trust policy:
trust.yaml:6: keys[1]: unknown field "publickey" (did you mean "publicKey"?)
trust.yaml:12: policies[0].signatures.threshold: 3 exceeds the 2 keys listed`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if k, ok := errkind.Of(err); !ok || k != errkind.Input {
		t.Errorf("kind = %v %v", k, ok)
	}
	if ps := problemsOf(t, err); len(ps) != 2 || ps[1].Line != 12 || ps[1].File != "trust.yaml" {
		t.Errorf("problems = %#v", ps)
	}

	// One problem is one line.
	one := Problems{{File: "trust.yaml", Line: 14, Path: "policies[0].signatures.threshold", Msg: "3 exceeds the 2 keys listed"}}
	if got := one.Error(); got != "trust.yaml:14: policies[0].signatures.threshold: 3 exceeds the 2 keys listed" {
		t.Errorf("one problem: %q", got)
	}
	if got := (Problem{Line: 3, Msg: "m"}).String(); got != "line 3: m" {
		t.Errorf("Parse problem: %q", got)
	}
}

func TestLoadUnreadable(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("err = %v", err)
	}
	if k, _ := errkind.Of(err); k != errkind.Input {
		t.Errorf("kind = %v", k)
	}
}

func TestParseInlineAndAbsoluteKeys(t *testing.T) {
	pubA, pemA := newPub(t, "ed25519")
	pubB, pemB := newPub(t, "p256")
	dir := writeTree(t, map[string][]byte{"b.pub": pemB})
	indented := "      " + strings.ReplaceAll(strings.TrimSpace(string(pemA)), "\n", "\n      ")
	src := "version: 1\nkeys:\n  - name: a\n    publicKey: |\n" + indented + "\n" +
		"  - name: b\n    publicKey: " + filepath.Join(dir, "b.pub") + "\n" +
		"policies:\n  - name: all\n    scopes: ['**']\n    signatures: {keys: [a, b], threshold: 2}\n"
	p, err := Parse([]byte(src), t.TempDir()) // absolute path ignores baseDir
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	if p.Key("a").ID != keyID(t, pubA) || p.Key("b").ID != keyID(t, pubB) {
		t.Error("key ids differ")
	}
	if p.Keys[0].File != "" || p.Keys[1].File != filepath.Join(dir, "b.pub") {
		t.Errorf("File = %q, %q", p.Keys[0].File, p.Keys[1].File)
	}
	if p.File != "" {
		t.Errorf("Parse File = %q", p.File)
	}
}
