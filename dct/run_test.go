package dct

import (
	"context"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/sign"
)

// Run checks the request before anything is asked of Notary or the key,
// and says in the error kind the CLI exits with why an import cannot go on;
// the plan comes back whenever it was made, so it can be shown.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry and a Notary metadata server")
	}
	host := testenv.Registry(t, true).Addr
	present := testenv.PushImage(t, host, "team/app", "v1")
	gone := strings.Repeat("cd", 32)
	sw, rootID := signedRepoWith(t, map[data.RoleName]map[string]string{
		data.CanonicalTargetsRole: {"v1": present.Hex, "gone": gone},
		"targets/ci":              {"ci-only": present.Hex},
	})
	server := serve(t, sw.MetadataCache)
	key := testkey.Signer(t)

	for _, tc := range []struct {
		name   string
		edit   func(*Request)
		noKey  bool
		kind   errkind.Kind // 0: success
		err    string       // error substring
		plan   bool         // a plan comes back
		keyUse bool         // the key was loaded
		check  func(t *testing.T, p *Plan, warnings []string)
	}{
		{name: "no key without --dry-run", noKey: true, edit: func(r *Request) { r.DryRun = false },
			kind: errkind.Input, err: "--key is required to sign"},
		{name: "GUN with a tag", edit: func(r *Request) { r.GUN = testGUN + ":v1" },
			kind: errkind.Input, err: "a GUN is the repository docker signed"},
		{name: "GUN with a trailing slash", edit: func(r *Request) { r.GUN = testGUN + "/"; r.AllowPartial = true },
			plan: true, keyUse: true, check: func(t *testing.T, p *Plan, _ []string) {
				if p.GUN != testGUN {
					t.Errorf("GUN %q; want %q", p.GUN, testGUN)
				}
			}},
		{name: "tag DCT never signed", edit: func(r *Request) { r.Tags = []string{"nope"} },
			keyUse: true, kind: errkind.Input, err: "--tag nope: " + testGUN + "'s Docker Content Trust metadata signs no such tag"},
		{name: "tag docker pull never trusted", edit: func(r *Request) { r.Tags = []string{"ci-only"} },
			plan: true, keyUse: true, kind: errkind.Untrusted, err: "--tag ci-only: Docker Content Trust did not trust it"},
		{name: "trusted tag whose digest is gone", edit: func(r *Request) { r.Tags = []string{"gone"} },
			plan: true, keyUse: true, kind: errkind.Untrusted, err: "1 of 1 tags Docker Content Trust trusted for " + testGUN + " cannot be carried over"},
		{name: "partial allowed", edit: func(r *Request) { r.AllowPartial = true },
			plan: true, keyUse: true, check: func(t *testing.T, p *Plan, _ []string) {
				if len(p.Entries) != 2 || !p.Partial() || len(p.Untrusted) != 1 {
					t.Errorf("plan %+v; want v1 and gone, partial, ci-only untrusted", p)
				}
				if p.Repository != host+"/team/app" {
					t.Errorf("repository %q; want the --repository given", p.Repository)
				}
			}},
		{name: "dry run without a key", noKey: true, edit: func(r *Request) { r.Tags = []string{"v1"} },
			plan: true, check: func(t *testing.T, p *Plan, _ []string) {
				if len(p.Entries) != 1 || !p.Entries[0].Import || p.Entries[0].Signature != "" {
					t.Errorf("entries %+v; want v1 to import, nothing pushed", p.Entries)
				}
			}},
		{name: "trust on first use is warned about", edit: func(r *Request) { r.Pin = Pin{TrustOnFirstUse: true}; r.Tags = []string{"v1"} },
			plan: true, keyUse: true, check: func(t *testing.T, p *Plan, warnings []string) {
				if p.Pinning != "tofu" || len(warnings) != 1 || !strings.Contains(warnings[0], "trusting on first use the root of "+testGUN+" served by "+server) {
					t.Errorf("pinning %q, warnings %q; want one TOFU warning naming the GUN and server", p.Pinning, warnings)
				}
			}},
		{name: "no warning with a pinned root", edit: func(r *Request) { r.Tags = []string{"v1"} },
			plan: true, keyUse: true, check: func(t *testing.T, p *Plan, warnings []string) {
				if len(warnings) != 0 {
					t.Errorf("warnings %q; want none", warnings)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded := 0
			var warnings []string
			req := Request{GUN: testGUN, Repository: host + "/team/app", Server: server, TrustDir: t.TempDir(),
				Pin: Pin{KeyIDs: []string{rootID}}, DryRun: true, Client: registry.New(), KeyName: "test key",
				Warn: func(msg string) { warnings = append(warnings, msg) }}
			if !tc.noKey {
				req.Signer = func(context.Context) (sign.Signer, error) { loaded++; return key, nil }
			}
			if tc.edit != nil {
				tc.edit(&req)
			}
			p, err := Run(context.Background(), req)
			if k, _ := errkind.Of(err); (err == nil) != (tc.kind == 0) || k != tc.kind || !strings.Contains(errString(err), tc.err) {
				t.Fatalf("err %v (kind %v); want kind %v containing %q", err, k, tc.kind, tc.err)
			}
			if (p != nil) != tc.plan {
				t.Errorf("plan %+v; want one: %v", p, tc.plan)
			}
			if (loaded > 0) != tc.keyUse {
				t.Errorf("key loaded %d times; want loaded: %v", loaded, tc.keyUse)
			}
			if tc.check != nil && p != nil {
				tc.check(t, p, warnings)
			}
		})
	}

	// A real import signs the trusted tag; run again, the same key finds it
	// imported and signs nothing.
	req := Request{GUN: testGUN, Repository: host + "/team/app", Server: server, TrustDir: t.TempDir(),
		Pin: Pin{KeyIDs: []string{rootID}}, Tags: []string{"v1"}, Client: registry.New(),
		Signer: func(context.Context) (sign.Signer, error) { return key, nil }}
	p, err := Run(context.Background(), req)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if e := p.Entries[0]; !e.Import || e.Signature == "" || e.Evidence == "" {
		t.Fatalf("imported %+v; want a signature and evidence pushed", e)
	}
	p, err = Run(context.Background(), req)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if e := p.Entries[0]; e.Import || !e.AlreadyImported || e.Signature != "" {
		t.Errorf("re-run %+v; want v1 already imported, nothing signed", e)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
