package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

// layoutPolicy requires a signature bound to the tag verified, SLSA
// provenance and an SPDX SBOM by key k for the given scopes, with mirrors
// (YAML list items) if any.
func layoutPolicy(e *env, file string, scopes []string, mirrors string) string {
	q := make([]string, len(scopes))
	for i, s := range scopes {
		q[i] = `"` + s + `"`
	}
	m := ""
	if mirrors != "" {
		m = "mirrors:\n" + mirrors
	}
	return e.write(file, `version: 1
keys:
  - name: k
    publicKey: k.pub
`+m+`policies:
  - name: app
    scopes: [`+strings.Join(q, ", ")+`]
    signatures:
      keys: [k]
      bindTag: true
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
      - type: https://spdx.dev/Document
        keys: [k]
`)
}

// signAll signs img and attests provenance and an SBOM for it.
func signAll(t *testing.T, e *env, img string, global ...string) {
	t.Helper()
	e.must(append(slices.Clone(global), "sign", "--key", "k.key", img)...)
	if r := testenv.Run(t, e.dir, ghEnv("acme/app", "release.yml", "refs/tags/v1", "github-hosted"), e.bin,
		append(slices.Clone(global), "attest", "provenance", "--key", "k.key", img)...); r.Code != 0 {
		t.Fatalf("attest provenance %s: exit %d\n%s", img, r.Code, r.Stderr)
	}
	e.must(append(slices.Clone(global), "attest", "sbom", "--key", "k.key", img)...)
}

// An image signed and attested on registry A, copied into an OCI layout
// and from there to registry B, verifies on B (through mirrors:) and in
// the layout judged as A's repository (--as) with one policy; without --as
// that policy's registry scopes do not judge the layout.
func TestLayoutRoundTrip(t *testing.T) {
	for _, kind := range registries {
		t.Run(kind.name, func(t *testing.T) {
			a, b := testenv.Registry(t, true).Addr, kind.start(t)
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			testenv.PushImage(t, a, "team/app", "v1")
			img := a + "/team/app:v1"
			signAll(t, e, img)

			dir := filepath.Join(e.dir, "app-layout")
			// The report names the layout as the user did, never by its
			// internal oci.invalid repository name.
			if res := e.copyJSON(img, "oci:"+dir); len(res.Images) != 1 {
				t.Fatalf("copy to a layout reports %d images, want 1", len(res.Images))
			} else if got := res.Images[0].Destination; got != "oci:"+dir+":v1" {
				t.Fatalf("copy to a layout reports the destination %q, want oci:%s:v1", got, dir)
			}
			for _, f := range []string{"oci-layout", "index.json"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("copy to a layout wrote no %s: %v", f, err)
				}
			}
			if a, l := attachedDigests(e.treeOf(img)), attachedDigests(e.treeOf("oci:"+dir+":v1")); !slices.Equal(a, l) || len(a) != 3 {
				t.Fatalf("tree on the registry lists %q, in the layout %q", a, l)
			}

			if res := e.copyJSON("oci:"+dir+":v1", b+"/mirror/app"); res.Images[0].Source != "oci:"+dir+":v1" {
				t.Errorf("copy from a layout reports the source %q, want oci:%s:v1", res.Images[0].Source, dir)
			}
			pol := layoutPolicy(e, "trust.yaml", []string{a + "/team/**"}, "  - mirror: "+b+"/mirror\n    canonical: "+a+"/team\n")
			if rep, r := e.verifyJSON(pol, b+"/mirror/app:v1"); r.Code != 0 || rep.Images[0].Verdict != verify.VerdictPass {
				t.Fatalf("verify on B: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			// Judged as A's repository: the report names it.
			r := e.must("--as", a+"/team/app", "verify", "--policy", pol, "oci:"+dir+":v1")
			if !strings.Contains(r.Stdout, "PASS  "+a+"/team/app@sha256:") {
				t.Errorf("verify --as reports\n%s", r.Stdout)
			}
			// Relative paths are the same layout.
			e.must("verify", "--as", a+"/team/app", "--policy", pol, "oci:app-layout:v1")

			// Without --as, A's scopes do not judge the layout.
			if r := e.run("verify", "--policy", pol, "oci:"+dir+":v1"); r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "oci:"+dir) {
				t.Errorf("verify of the layout without --as: exit %d, want 1 naming the oci: scope to add\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			// Signed in a layout --as A's repository, it verifies on A after
			// a copy there.
			testenv.PushImage(t, a, "team/fresh", "v1")
			fresh := filepath.Join(e.dir, "fresh")
			e.copyJSON(a+"/team/fresh:v1", "oci:"+fresh)
			signAll(t, e, "oci:"+fresh+":v1", "--as", a+"/team/fresh")
			e.must("verify", "--as", a+"/team/fresh", "--policy", pol, "oci:"+fresh+":v1")
			e.copyJSON("oci:"+fresh+":v1", a+"/team/fresh")
			e.must("verify", "--policy", pol, a+"/team/fresh:v1")

			// --as takes one layout, and layouts only.
			if r := e.run("verify", "--as", a+"/team/app", "--policy", pol, img); r.Code != 2 {
				t.Errorf("--as with a registry image: exit %d, want 2\n%s", r.Code, r.Stderr)
			}
			if r := e.run("verify", "--as", a+"/team/app", "--policy", pol, "oci:"+dir+":v1", "oci:"+fresh+":v1"); r.Code != 2 || !strings.Contains(r.Stdout+r.Stderr, "one layout") {
				t.Errorf("--as with two layouts: exit %d, want 2\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

// An image signed and attested in a layout verifies under an oci: scope
// naming its directory, and fails under a policy whose only scope is "**":
// nothing passes by accident.
func TestLayoutSignVerify(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	dir := filepath.Join(e.dir, "layouts", "app")
	if res := e.copyJSON("--dry-run", host+"/app:v1", "oci:"+dir); !res.DryRun {
		t.Errorf("dry run: %+v", res)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("copy --dry-run created the layout")
	}
	e.copyJSON(host+"/app:v1", "oci:"+dir)
	ref := "oci:" + dir + ":v1"
	signAll(t, e, ref)

	tr := e.treeOf(ref)
	if len(attachedDigests(tr)) != 3 {
		t.Fatalf("tree of the layout lists %d attachments, want 3: %+v", len(tr.Attachments), tr.Attachments)
	}
	if !strings.HasPrefix(tr.Reference, "oci:"+dir+"@sha256:") {
		t.Errorf("tree reference %q, want oci:%s@sha256:…", tr.Reference, dir)
	}

	pass := layoutPolicy(e, "layouts.yaml", []string{"oci:" + filepath.Join(e.dir, "layouts") + "/**"}, "")
	rep, r := e.verifyJSON(pass, ref)
	if r.Code != 0 || rep.Images[0].Verdict != verify.VerdictPass {
		t.Fatalf("verify under an oci: scope: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	e.must("verify", "--policy", pass, "oci:"+dir) // the layout's only image
	e.must("verify", "--key", "k.pub", ref)
	e.must("verify", "--offline", "--policy", pass, ref) // a layout needs no network

	// The generate-only commands read layouts too.
	if r := e.must("sbom", ref); !strings.Contains(r.Stdout, "SPDX") {
		t.Errorf("sbom of a layout image:\n%.300s", r.Stdout)
	}
	if r := testenv.Run(t, e.dir, ghEnv("acme/app", "release.yml", "refs/tags/v1", "github-hosted"), e.bin, "provenance", ref); r.Code != 0 || !strings.Contains(r.Stdout, "buildDefinition") {
		t.Errorf("provenance of a layout image: exit %d\n%.300s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// Copied to another layout, the tag-bound signature still names the
	// first layout: bindTag does not count it for the copy's tag.
	twin := filepath.Join(e.dir, "layouts", "twin")
	e.copyJSON(ref, "oci:"+twin)
	if r := e.run("verify", "--policy", pass, "oci:"+twin+":v1"); r.Code != 1 {
		t.Errorf("bindTag on a layout holding another layout's tag-bound signature: exit %d, want 1\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	catchAll := layoutPolicy(e, "all.yaml", []string{"**"}, "")
	if r := e.run("verify", "--policy", catchAll, ref); r.Code != 1 {
		t.Errorf("verify under a ** policy: exit %d, want 1\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	other := layoutPolicy(e, "other.yaml", []string{"oci:/srv/layouts/**"}, "")
	if r := e.run("verify", "--policy", other, ref); r.Code != 1 {
		t.Errorf("verify under another directory's scope: exit %d, want 1\n%s", r.Code, r.Stdout)
	}
	e.must("policy", "check", pass)
	if r := e.run("policy", "check", e.write("bad.yaml", strings.Replace(readFile(t, pass), "oci:/", "oci:", 1))); r.Code != 2 {
		t.Errorf("policy check of a relative oci: scope: exit %d, want 2\n%s", r.Code, r.Stderr)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Four imgsign processes signing one layout at once lose no signature.
// (Processes rarely overlap here; internal/ocilayout's
// TestWritersInSeveralProcesses is the test that fails without the lock.)
func TestLayoutConcurrentSigners(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	dir := filepath.Join(e.dir, "layout")
	e.copyJSON(host+"/app:v1", "oci:"+dir)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.run("sign", "--key", "k.key", "oci:"+dir+":v1"); r.Code != 0 {
				t.Errorf("sign: exit %d\n%s", r.Code, r.Stderr)
			}
		}()
	}
	wg.Wait()
	if n := len(attachedDigests(e.treeOf("oci:" + dir + ":v1"))); n != 4 {
		t.Errorf("tree lists %d signatures after 4 concurrent signers, want 4", n)
	}
}

// cosign's signatures — its bundles and its legacy sha256-<hex>.sig tag —
// come into a layout with a copy and verify there: the legacy tag is read
// through the layout's ref.name tags.
func TestLayoutCosign(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	cenv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}
	opts := []string{"--tlog-upload=false", "--use-signing-config=false", "--allow-insecure-registry", "-y"}
	testenv.PushImage(t, host, "cos", "v1")
	img := host + "/cos:v1"
	for _, legacy := range []bool{false, true} {
		args := append([]string{"sign", "--key", "k.key", img}, opts...)
		if legacy {
			args = append(args, "--new-bundle-format=false")
		}
		if r := testenv.Run(t, e.dir, cenv, cosign, args...); r.Code != 0 {
			t.Fatalf("cosign %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
		}
	}
	dir := filepath.Join(e.dir, "cos-layout")
	e.copyJSON(img, "oci:"+dir)
	tr := e.treeOf("oci:" + dir + ":v1")
	legacyTag := false
	for _, a := range tr.Attachments {
		legacyTag = legacyTag || strings.HasSuffix(a.Tag, ".sig")
	}
	if len(tr.Attachments) != 2 || !legacyTag {
		t.Fatalf("tree of the layout: %+v, want cosign's bundle and its .sig tag", tr.Attachments)
	}
	if r := e.run("verify", "--as", host+"/cos", "--key", "k.pub", "--output", "json", "oci:"+dir+":v1"); r.Code != 0 {
		t.Fatalf("verify in the layout: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// The layout's only image is the image, not cosign's signature image.
	e.must("tree", "oci:"+dir)
}

// A multi-platform index in a layout: its platform manifests are entries of
// index.json too, yet oci:DIR names the index; signing it --recursive signs
// each platform there.
func TestLayoutIndex(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	idx, children, _ := pushPlatformIndex(t, host, "multi", "v1")
	dir := filepath.Join(e.dir, "multi")
	e.copyJSON(host+"/multi:v1", "oci:"+dir)
	if tr := e.treeOf("oci:" + dir); tr.Digest != idx.String() {
		t.Fatalf("oci:DIR resolved to %s, want the index %s", tr.Digest, idx)
	}
	e.must("sign", "--recursive", "--key", "k.key", "oci:"+dir+":v1")
	e.must("verify", "--key", "k.pub", "oci:"+dir+":v1")
	for p, d := range children {
		if n := len(attachedDigests(e.treeOf("oci:" + dir + "@" + d.String()))); n != 1 {
			t.Errorf("%s: %d signatures in the layout, want 1", p, n)
		}
	}
}
