package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/refname"
)

func TestParseLayoutScope(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{in: "oci:/srv/layouts/**"},
		{in: "oci:/srv/Layouts/app-*"},
		{in: "oci:/**"},
		{in: "oci:srv/layouts", err: "absolute path"},
		{in: "oci:/", err: "names no layout"},
		{in: "oci:/srv//x", err: "empty path segment"},
		{in: "oci:/srv/../etc", err: `".." path segment`},
		{in: "oci:/srv/a**", err: "whole path segment"},
		{in: "oci:/srv/\x1b[2J", err: "control character"},
	} {
		_, err := ParseScope(tc.in)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseScope(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func layoutRepo(t *testing.T, dir string) string {
	t.Helper()
	r, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A layout is judged only by oci: scopes, a registry repository never by
// them: a catch-all ** judges no layout, and a layout name cannot pass for
// a registry's.
func TestLayoutScopesMatchOnlyLayouts(t *testing.T) {
	app := layoutRepo(t, "/srv/layouts/app")
	p := matchPolicy(t, map[string][]string{"all": {"**"}, "registry": {"oci.invalid/**"}})
	if _, err := p.MatchScope(app); !errors.Is(err, ErrNoMatchingScope) || !strings.Contains(err.Error(), `"oci:/srv/layouts/app"`) {
		t.Errorf("a layout under ** and oci.invalid/**: %v, want no matching scope naming the oci: scope to add", err)
	}
	p = matchPolicy(t, map[string][]string{"all": {"**"}, "layouts": {"oci:/srv/layouts/**"}, "app": {"oci:/srv/layouts/app"}, "any-layout": {"oci:/**"}})
	for repo, want := range map[string]string{
		app:                                 "app",
		layoutRepo(t, "/srv/layouts/other"): "layouts",
		layoutRepo(t, "/home/u/x"):          "any-layout",
		"ghcr.io/acme/app":                  "all",
	} {
		m, err := p.MatchScope(repo)
		if err != nil || m.Rule.Name != want {
			t.Errorf("%s: %v, %v; want %s", repo, m, err, want)
			continue
		}
		if !m.Scope.Matches(m.Repository) {
			t.Errorf("%s: scope %s does not match %s", repo, m.Scope.Raw, m.Repository)
		}
	}
	if probs := p.ties(); len(probs) != 0 {
		t.Errorf("ties: %+v", probs)
	}
	// A name under oci.invalid that is not a layout's canonical name.
	if _, err := p.MatchScope("oci.invalid/abc"); err == nil {
		t.Error("matched a non-canonical layout name")
	}
}

func TestForKeyLayout(t *testing.T) {
	app := layoutRepo(t, "/srv/layouts/app")
	_, pubPEM := newPub(t, "ecdsa")
	dir := writeTree(t, map[string][]byte{"k.pub": pubPEM})
	p, err := ForKey(filepath.Join(dir, "k.pub"), []string{app})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rules[0].Scopes[0].Pattern; got != "oci:/srv/layouts/app" {
		t.Errorf("--key scope for a layout: %q", got)
	}
	if _, err := p.MatchScope(app); err != nil {
		t.Error(err)
	}
}
