package policy

// Review of mirrors, scopes and layout names (docs/policy.md#mirrors): what
// a policy author could write by mistake, and what someone who can push
// to a mirror or name an image could try, so that an image is judged by a
// rule it should not be.

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
)

// A layout's oci.invalid name in any spelling but the one imgsign writes
// (upper case, a trailing dot, :443) is no layout: read as one, a registry
// image (or an --as repository) so named would be judged by the policy's
// oci: scopes — an audit "oci:/**" rule instead of the enforce "**" one.
func TestReviewLayoutHostSpellings(t *testing.T) {
	p := parseMirrors(t, mirrorPolicy("", [2]string{"layouts", "'oci:/**'"}, [2]string{"all", "'**'"}))
	layout, err := refname.LayoutRepository("/srv/prod")
	if err != nil {
		t.Fatal(err)
	}
	// The one spelling imgsign writes is a layout, judged by oci: scopes.
	if m, err := p.MatchScope(layout); err != nil || m.Rule.Name != "layouts" {
		t.Fatalf("MatchScope(%s) = %+v, %v; want the layouts rule", layout, m, err)
	}
	path := strings.TrimPrefix(layout, refname.LayoutHost+"/")
	for _, host := range []string{"OCI.invalid", "oci.invalid.", "oci.invalid:443", "Oci.Invalid.:443", "oci.INVALID"} {
		repo := host + "/" + path
		m, err := p.MatchScope(repo)
		if err == nil {
			t.Errorf("MatchScope(%s) = rule %s for %s; want an error: only %s/… names a layout", repo, m.Rule.Name, m.Repository, refname.LayoutHost)
			continue
		}
		if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), "reserved for OCI layouts") {
			t.Errorf("MatchScope(%s): %v (kind %v); want an input error saying the host is reserved", repo, err, k)
		}
		if got, err := NormalizeRepository(repo); err == nil {
			t.Errorf("NormalizeRepository(%s) = %s; want an error", repo, got)
		}
	}
}

// Mirrors map registry repositories; a layout stands for a repository only
// by --as. A mapping onto oci.invalid would have oci: scopes judge registry
// images; one from oci.invalid never applies (MatchScope maps no layout).
func TestReviewMirrorLayoutHost(t *testing.T) {
	layout, err := refname.LayoutRepository("/srv/prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ mirrors, path string }{
		{"mirrors:\n  - mirror: mirror.corp/layouts\n    canonical: oci.invalid\n", "mirrors[0].canonical"},
		{"mirrors:\n  - mirror: mirror.corp/prod\n    canonical: " + layout + "\n", "mirrors[0].canonical"},
		{"mirrors:\n  - mirror: oci.invalid.:443\n    canonical: ghcr.io/acme\n", "mirrors[0].mirror"},
		{"mirrors:\n  - mirror: " + layout + "\n    canonical: ghcr.io/acme/app\n", "mirrors[0].mirror"},
	} {
		src := mirrorPolicy(tt.mirrors, [2]string{"layouts", "'oci:/**'"}, [2]string{"acme", "'ghcr.io/acme/**'"}, [2]string{"corp", "'mirror.corp/other/**'"})
		p, err := Parse([]byte(src), "")
		if err == nil {
			if m, err := p.MatchScope("mirror.corp/prod"); err == nil {
				t.Errorf("Parse accepted\n%s\nand judges mirror.corp/prod by rule %s as %s", tt.mirrors, m.Rule.Name, m.Repository)
			} else {
				t.Errorf("Parse accepted\n%s", tt.mirrors)
			}
			continue
		}
		found := false
		for _, pr := range problemsOf(t, err) {
			if pr.Path == tt.path && strings.Contains(pr.Msg, "reserved for OCI layouts") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a problem at %s saying oci.invalid is reserved; got %v", tt.mirrors, tt.path, err)
		}
	}
}

// A canonical prefix naming one Docker Hub repository without its
// namespace (docker.io/nginx) maps the prefix's own repository to
// docker.io/library/nginx, as every Docker Hub name is read: a chain when
// docker.io/library (or …/library/nginx) is another mapping's mirror
// prefix, though the two prefixes are not one inside the other as written.
func TestReviewMirrorChainThroughDockerHubLibrary(t *testing.T) {
	for _, second := range []string{"docker.io/library", "docker.io/library/nginx", "registry-1.docker.io/library"} {
		src := mirrorPolicy("mirrors:\n  - mirror: mirror.corp/nginx\n    canonical: docker.io/nginx\n  - mirror: "+second+"\n    canonical: ghcr.io/acme\n",
			[2]string{"hub", "'docker.io/**'"}, [2]string{"acme", "'ghcr.io/acme/**'"})
		p, err := Parse([]byte(src), "")
		if err == nil {
			c, m, _ := p.Canonical("mirror.corp/nginx")
			t.Errorf("mirror %s: Parse accepted a chain: mirror.corp/nginx maps (%v) to %s, inside mirror prefix %s", second, m, c, second)
			continue
		}
		found := false
		for _, pr := range problemsOf(t, err) {
			if pr.Path == "mirrors[0].canonical" && strings.Contains(pr.Msg, "do not chain") {
				found = true
			}
		}
		if !found {
			t.Errorf("mirror %s: want mirrors[0].canonical refused as a chain; got %v", second, err)
		}
	}
	// Not a chain: the namespace nginx on Docker Hub is not library.
	src := mirrorPolicy("mirrors:\n  - mirror: mirror.corp/nginx\n    canonical: docker.io/nginx\n  - mirror: docker.io/other\n    canonical: ghcr.io/acme\n",
		[2]string{"hub", "'docker.io/**'"}, [2]string{"acme", "'ghcr.io/acme/**'"})
	if _, err := Parse([]byte(src), ""); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

// Which mapping applies never depends on the order entries are written
// in: nested prefixes resolve to the longest, whatever the order and the
// spelling of the hosts.
func TestReviewMirrorOrderAndSpelling(t *testing.T) {
	a := "  - mirror: MIRROR-CORP.example./hub\n    canonical: docker.io\n"
	b := "  - mirror: mirror-corp.example:443/hub/library\n    canonical: ghcr.io/acme/library\n"
	rules := [][2]string{{"hub", "'docker.io/**'"}, {"acme", "'ghcr.io/acme/**'"}}
	for _, order := range []string{a + b, b + a} {
		src := mirrorPolicy("mirrors:\n"+strings.ToLower(order), rules...)
		p := parseMirrors(t, src)
		for repo, want := range map[string]string{
			"mirror-corp.example/hub/library/nginx":  "ghcr.io/acme/library/nginx",
			"Mirror-Corp.Example./hub/library/nginx": "ghcr.io/acme/library/nginx",
			"mirror-corp.example/hub/nginx":          "index.docker.io/library/nginx",
			"mirror-corp.example/hub/librar/nginx":   "index.docker.io/librar/nginx",
		} {
			m, err := p.MatchScope(repo)
			if err != nil || m.Repository != want {
				t.Errorf("order\n%s: MatchScope(%s) = %+v, %v; want %s", order, repo, m, err, want)
			}
		}
	}
}

// A mirror spelled as another name of this machine or of Docker Hub is the
// same prefix as every other spelling: declared twice it is refused, and a
// scope written in another spelling inside it is reported.
func TestReviewMirrorAliasDuplicates(t *testing.T) {
	for _, tt := range []struct{ mirrors string }{
		{"  - mirror: localhost:5000/m\n    canonical: ghcr.io/a\n  - mirror: 127.0.0.1:5000/m\n    canonical: ghcr.io/b\n"},
		{"  - mirror: localhost:5000/m\n    canonical: ghcr.io/a\n  - mirror: '[::1]:5000/m'\n    canonical: ghcr.io/b\n"},
		{"  - mirror: localhost:5000/m\n    canonical: ghcr.io/a\n  - mirror: 0.0.0.0:5000/m\n    canonical: ghcr.io/b\n"},
		{"  - mirror: localhost:5000/m\n    canonical: ghcr.io/a\n  - mirror: reg.localhost:5000/m\n    canonical: ghcr.io/b\n"},
		{"  - mirror: docker.io/acme\n    canonical: ghcr.io/a\n  - mirror: index.docker.io/acme\n    canonical: ghcr.io/b\n"},
		{"  - mirror: docker.io/acme\n    canonical: ghcr.io/a\n  - mirror: registry.hub.docker.com/acme\n    canonical: ghcr.io/b\n"},
		{"  - mirror: m.corp/x\n    canonical: ghcr.io/a\n  - mirror: m.corp.:443/x\n    canonical: ghcr.io/b\n"},
	} {
		_, err := Parse([]byte(mirrorPolicy("mirrors:\n"+tt.mirrors, [2]string{"all", "'ghcr.io/**'"})), "")
		if err == nil || !strings.Contains(err.Error(), "is already mapped by mirrors[0]") {
			t.Errorf("mirrors\n%s: %v; want the second prefix refused as already mapped", tt.mirrors, err)
		}
	}
	// A scope spelled 127.0.0.1 inside a localhost mirror prefix is dead.
	_, err := Parse([]byte(mirrorPolicy("mirrors:\n  - mirror: localhost:5000/m\n    canonical: ghcr.io/a\n",
		[2]string{"all", "'ghcr.io/**'"}, [2]string{"dead", "'127.0.0.1:5000/m/**'"})), "")
	if err == nil || !strings.Contains(err.Error(), "never applies") {
		t.Errorf("scope inside the mirror in another spelling: %v", err)
	}
}

// Mapping a whole repository onto a bare registry leaves no repository to
// judge: refused when matched, never judged as the registry's root.
func TestReviewMirrorOntoBareRegistry(t *testing.T) {
	p := parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: m.corp/hub\n    canonical: ghcr.io\n", [2]string{"all", "'ghcr.io/**'"}, [2]string{"any", "'**'"}))
	if m, err := p.MatchScope("m.corp/hub"); err == nil {
		t.Errorf("MatchScope(m.corp/hub) = %+v; want an error", m)
	} else if k, _ := errkind.Of(err); k != errkind.Input {
		t.Errorf("MatchScope(m.corp/hub): %v is not an input error", err)
	}
	if m, err := p.MatchScope("m.corp/hub/app"); err != nil || m.Repository != "ghcr.io/app" || m.Rule.Name != "all" {
		t.Errorf("MatchScope(m.corp/hub/app) = %+v, %v", m, err)
	}
	// A mirror image no scope covers under its canonical name is rejected,
	// never judged by the mirror host's own catch-all.
	p = parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: m.corp/hub\n    canonical: ghcr.io/acme\n", [2]string{"other", "'ghcr.io/other/**'"}, [2]string{"corp", "'m.corp/**'"}))
	if m, err := p.MatchScope("m.corp/hub/app"); !errors.Is(err, ErrNoMatchingScope) {
		t.Errorf("MatchScope(m.corp/hub/app) = %+v, %v; want no matching scope", m, err)
	}
}

// The repository a mirror prefix names maps to the canonical prefix
// itself; one Docker Hub segment (docker.io/acme) reads, as an image name,
// as the official docker.io/library/acme — outside the canonical prefix,
// and judged by the official images' (here audit) rule. Refused; the
// repositories below the prefix map into docker.io/acme as written.
func TestReviewMirrorPrefixRepositoryLeavesCanonical(t *testing.T) {
	p := parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: m.corp/hub\n    canonical: docker.io/acme\n",
		[2]string{"official", "'docker.io/library/**'"}, [2]string{"acme", "'docker.io/acme/**'"}))
	if m, err := p.MatchScope("m.corp/hub"); err == nil {
		t.Errorf("MatchScope(m.corp/hub) = rule %s for %s; want an error", m.Rule.Name, m.Repository)
	} else if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), "outside the canonical prefix") {
		t.Errorf("MatchScope(m.corp/hub): %v (kind %v)", err, k)
	}
	if m, err := p.MatchScope("m.corp/hub/app"); err != nil || m.Rule.Name != "acme" || m.Repository != "index.docker.io/acme/app" {
		t.Errorf("MatchScope(m.corp/hub/app) = %+v, %v; want acme for index.docker.io/acme/app", m, err)
	}
	// Written as the official repository, a whole-repository mapping holds.
	p = parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: m.corp/nginx\n    canonical: docker.io/library/nginx\n",
		[2]string{"official", "'docker.io/library/**'"}))
	if m, err := p.MatchScope("m.corp/nginx"); err != nil || m.Repository != "index.docker.io/library/nginx" {
		t.Errorf("MatchScope(m.corp/nginx) = %+v, %v", m, err)
	}
}

// The canonical side is canonicalised as scopes are: a canonical written
// 127.0.0.1:5000 or registry-1.docker.io is matched by the scopes written
// localhost:5000 or docker.io, so the strict rule for the origin judges
// the copy rather than a catch-all.
func TestReviewCanonicalSpelling(t *testing.T) {
	p := parseMirrors(t, mirrorPolicy(`mirrors:
  - mirror: m.corp/loop
    canonical: 127.0.0.1:5000/acme
  - mirror: m.corp/hub
    canonical: registry-1.docker.io.
  - mirror: m.corp/v6
    canonical: '[0:0::1]:5000/acme'
`, [2]string{"origin", "'localhost:5000/acme/**'"}, [2]string{"hub", "'docker.io/library/*'"}, [2]string{"all", "'**'"}))
	for repo, want := range map[string][2]string{
		"m.corp/loop/app":  {"origin", "localhost:5000/acme/app"},
		"m.corp/v6/app":    {"origin", "localhost:5000/acme/app"},
		"m.corp/hub/nginx": {"hub", "index.docker.io/library/nginx"},
	} {
		m, err := p.MatchScope(repo)
		if err != nil || m.Rule.Name != want[0] || m.Repository != want[1] {
			t.Errorf("MatchScope(%s) = %+v, %v; want rule %s for %s", repo, m, err, want[0], want[1])
		}
	}
}
