package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/transfer"
	"github.com/imgsign/imgsign/verify"
)

// regProxy is a reverse proxy in front of a test registry: it counts
// requests by method and can refuse the referrers API, refuse writes, or
// cut blob uploads off mid-body.
type regProxy struct {
	Host string

	mu     sync.Mutex
	counts map[string]int
	paths  []string

	noReferrers atomic.Bool
	denyWrites  atomic.Bool
	// drops is how many blob uploads to cut off mid-body: <0 every one.
	drops atomic.Int64
	// dropped counts the uploads cut off.
	dropped atomic.Int64
}

func newRegProxy(t *testing.T, target string) *regProxy {
	t.Helper()
	p := &regProxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(w, r, rp)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.Host = ln.Addr().String()
	return p
}

func (p *regProxy) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	p.mu.Lock()
	p.counts[r.Method]++
	p.paths = append(p.paths, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	switch {
	case p.noReferrers.Load() && strings.Contains(r.URL.Path, "/referrers/"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"errors":[{"code":"NOT_FOUND","message":"no referrers API here"}]}`)
		return
	case p.denyWrites.Load() && write:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
		return
	case (r.Method == http.MethodPut || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength > 1 && p.takeDrop():
		// Half the blob arrives, then the connection dies.
		_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
		p.dropped.Add(1)
		return
	}
	next.ServeHTTP(w, r)
}

func (p *regProxy) takeDrop() bool {
	for {
		n := p.drops.Load()
		if n < 0 {
			return true
		}
		if n == 0 {
			return false
		}
		if p.drops.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// writes counts the requests that change something (POST, PUT, PATCH,
// DELETE) since the last reset; total counts every request.
func (p *regProxy) writes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[http.MethodPost] + p.counts[http.MethodPut] + p.counts[http.MethodPatch] + p.counts[http.MethodDelete]
}

func (p *regProxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}

// blobReads counts blob downloads since the last reset.
func (p *regProxy) blobReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.paths {
		if strings.HasPrefix(l, "GET ") && strings.Contains(l, "/blobs/") {
			n++
		}
	}
	return n
}

func (p *regProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
	p.paths = nil
}

// copyJSON runs imgsign copy --output json and decodes the result.
func (e *env) copyJSON(args ...string) *transfer.Result {
	e.t.Helper()
	r := e.must(append([]string{"copy", "--output", "json"}, args...)...)
	var res transfer.Result
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		e.t.Fatalf("copy --output json: %v\n%s", err, r.Stdout)
	}
	return &res
}

// treeOf runs imgsign tree --output json.
func (e *env) treeOf(image string) *verify.Tree {
	e.t.Helper()
	var tr verify.Tree
	if err := json.Unmarshal([]byte(e.must("tree", "--output", "json", image).Stdout), &tr); err != nil {
		e.t.Fatal(err)
	}
	return &tr
}

// attachedDigests are the digests tree lists (referrers and legacy tags),
// sorted, each once.
func attachedDigests(tr *verify.Tree) []string {
	var out []string
	for _, a := range tr.Attachments {
		out = append(out, a.Referrer)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fullPolicy requires k's signature, SLSA provenance and an SPDX SBOM
// attestation for everything under host.
func fullPolicy(e *env, host string) string {
	return e.write("copy-trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: mirror
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
      - type: https://spdx.dev/Document
        keys: [k]
`)
}

// An image signed and attested with imgsign on one registry, copied to the
// other, verifies there under a policy scoped to the destination, and tree
// lists the same attachments at both ends; a second copy uploads nothing.
// Every pairing of the referrers API and the tag schema.
func TestCopySignedImage(t *testing.T) {
	for _, from := range registries {
		for _, to := range registries {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				srcHost, dstHost := from.start(t), to.start(t)
				src, dst := newRegProxy(t, srcHost), newRegProxy(t, dstHost)
				e := newEnv(t)
				e.key("k", "ecdsa-p256")
				testenv.PushImage(t, src.Host, "team/app", "v1")
				img := src.Host + "/team/app:v1"
				e.must("sign", "--key", "k.key", img)
				if r := testenv.Run(t, e.dir, ghEnv("acme/app", "release.yml", "refs/tags/v1", "github-hosted"), e.bin,
					"attest", "provenance", "--key", "k.key", img); r.Code != 0 {
					t.Fatalf("attest provenance: exit %d\n%s", r.Code, r.Stderr)
				}
				e.must("attest", "sbom", "--key", "k.key", img)

				src.reset()
				dst.reset()
				res := e.copyJSON(img, dst.Host+"/mirror/app")
				t.Logf("first copy: %d requests to the source, %d to the destination (%d writes)", src.total(), dst.total(), dst.writes())
				if len(res.Images) != 1 || res.Images[0].Status != transfer.StatusCopied || res.Images[0].Tag != "v1" {
					t.Fatalf("images: %+v", res.Images)
				}
				if n := countStatus(res, transfer.StatusCopied); n != 3 {
					t.Errorf("copied %d attachments, want 3 (signature, provenance, SBOM): %+v", n, res.Attachments)
				}
				if res.DestinationReferrersAPI == nil || *res.DestinationReferrersAPI != (to.name == "referrers-api") {
					t.Errorf("destinationReferrersApi = %v on %s", res.DestinationReferrersAPI, to.name)
				}

				copied := dst.Host + "/mirror/app:v1"
				if rep, r := e.verifyJSON(fullPolicy(e, dst.Host), copied); r.Code != 0 || len(rep.Images) != 1 {
					t.Fatalf("verify at the destination: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
				}
				if a, b := attachedDigests(e.treeOf(img)), attachedDigests(e.treeOf(copied)); !slices.Equal(a, b) {
					t.Errorf("tree at the source lists %q, at the destination %q", a, b)
				}

				// Again: everything is there, nothing is written or downloaded.
				src.reset()
				dst.reset()
				again := e.copyJSON(img, dst.Host+"/mirror/app")
				t.Logf("second copy: %d requests to the source, %d to the destination", src.total(), dst.total())
				if w := dst.writes(); w != 0 {
					t.Errorf("second copy wrote %d times to the destination", w)
				}
				if n := src.blobReads(); n != 0 {
					t.Errorf("second copy downloaded %d blobs", n)
				}
				if again.Images[0].Status != transfer.StatusExists || countStatus(again, transfer.StatusExists) != 3 ||
					again.Blobs.Copied != 0 || again.Manifests.Copied != 0 {
					t.Errorf("second copy: %+v %+v blobs %+v manifests %+v", again.Images[0], again.Attachments, again.Blobs, again.Manifests)
				}
			})
		}
	}
}

func countStatus(res *transfer.Result, s transfer.Status) int {
	n := 0
	for _, a := range res.Attachments {
		if a.Status == s {
			n++
		}
	}
	return n
}

// pushPlatformIndex pushes an index of a linux/amd64 and a linux/arm64
// image and BuildKit's attestation manifest for the amd64 one, and returns
// the index digest and the platform manifests' digests by platform.
func pushPlatformIndex(t *testing.T, host, repo, tag string) (v1.Hash, map[string]v1.Hash, v1.Hash) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	children := map[string]v1.Hash{}
	var amd64 v1.Hash
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(300, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		d, _ := img.Digest()
		children[p.String()] = d
		if p.Architecture == "amd64" {
			amd64 = d
		}
	}
	stmt := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"x","digest":{"sha256":"` + amd64.Hex + `"}}],"predicate":{}}`
	att, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON),
		mutate.Addendum{Layer: static.NewLayer([]byte(stmt), "application/vnd.in-toto+json"), Annotations: map[string]string{"in-toto.io/predicate-type": "https://spdx.dev/Document"}})
	if err != nil {
		t.Fatal(err)
	}
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64.String()},
	}})
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	attD, _ := att.Digest()
	return d, children, attD
}

// A multi-platform index comes whole — every platform manifest, BuildKit's
// attestation manifest, the index's signature and each platform's own
// signature and provenance — and --platform copies one platform with what
// is attached to it.
func TestCopyIndex(t *testing.T) {
	srcHost := testenv.Registry(t, true).Addr
	dstHost := testenv.Distribution(t)
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	index, children, bkAtt := pushPlatformIndex(t, srcHost, "multi", "v1")
	img := srcHost + "/multi:v1"
	e.must("sign", "--recursive", "--key", "k.key", img)
	e.write("prov.json", fixture(t, "attest/slsa-github.json"))
	for _, d := range children {
		e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", digestRef(srcHost, "multi", d))
		e.must("attest", "sbom", "--key", "k.key", digestRef(srcHost, "multi", d))
	}
	sigs := e.write("sigs.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: p\n    scopes: [\""+dstHost+"/**\"]\n    signatures:\n      keys: [k]\n")
	prov := attestationPolicy(e, dstHost, "")

	res := e.copyJSON(img, dstHost+"/mirror/multi")
	if res.Images[0].Digest != index.String() || res.Images[0].Platforms != 2 {
		t.Fatalf("image: %+v", res.Images[0])
	}
	if n := countStatus(res, transfer.StatusCopied); n != 7 {
		t.Errorf("copied %d attachments, want 7 (index signature, 2 × platform signature, provenance and SBOM): %+v", n, res.Attachments)
	}
	e.must("verify", "--policy", sigs, dstHost+"/mirror/multi:v1")
	for p, d := range children {
		if r := e.run("verify", "--policy", prov, digestRef(dstHost, "mirror/multi", d)); r.Code != 0 {
			t.Errorf("verify %s at the destination: exit %d\n%s", p, r.Code, r.Stdout)
		}
	}
	tree := e.treeOf(dstHost + "/mirror/multi:v1")
	if len(tree.Children) != 2 || !strings.Contains(e.must("tree", dstHost+"/mirror/multi:v1").Stdout, bkAtt.String()) {
		t.Errorf("tree at the destination lacks the platforms or BuildKit's attestation:\n%s", e.must("tree", dstHost+"/mirror/multi:v1").Stdout)
	}

	// One platform: the tag names the arm64 manifest, verified with its own
	// signature, provenance and SBOM; the index is not at the destination.
	one := e.copyJSON("--platform", "linux/arm64", img, dstHost+"/arm/multi")
	arm := children["linux/arm64/v8"]
	if one.Images[0].Digest != arm.String() || countStatus(one, transfer.StatusCopied) != 3 {
		t.Fatalf("--platform copy: %+v %+v", one.Images[0], one.Attachments)
	}
	if !strings.Contains(strings.Join(one.Notes, "\n"), "signatures and attestations of the index") {
		t.Errorf("--platform does not say the index's signatures stay behind: %q", one.Notes)
	}
	e.must("verify", "--policy", prov, dstHost+"/arm/multi:v1")
	if ok, err := openRepo(t, dstHost, "arm/multi").HasManifest(context.Background(), index); err != nil || ok {
		t.Errorf("the index is at the destination after a --platform copy (%v, %v)", ok, err)
	}
	if r := e.run("copy", "--platform", "windows/amd64", img, dstHost+"/win/multi"); r.Code != 2 || !strings.Contains(r.Stderr, "linux/amd64") {
		t.Errorf("--platform with no such platform: exit %d\n%s", r.Code, r.Stderr)
	}
}

// Signatures and attestations cosign wrote — v3 bundles and the legacy
// .sig/.att tags — still verify with cosign at the destination; a legacy
// .sig tag the destination already had keeps its signatures, and gains the
// source's.
func TestCopyCosign(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, dir := range []struct{ name, from, to string }{
		{"referrers-api to distribution", "api", "dist"},
		{"distribution to referrers-api", "dist", "api"},
	} {
		t.Run(dir.name, func(t *testing.T) {
			hosts := map[string]string{"api": testenv.Registry(t, true).Addr, "dist": testenv.Distribution(t)}
			srcHost, dstHost := hosts[dir.from], hosts[dir.to]
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			e.key("other", "ecdsa-p256")
			e.write("prov.json", fixture(t, "attest/slsa-github.json"))
			cenv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}
			cos := func(args ...string) {
				t.Helper()
				if r := testenv.Run(t, e.dir, cenv, cosign, args...); r.Code != 0 {
					t.Fatalf("cosign %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
				}
			}
			opts := []string{"--tlog-upload=false", "--use-signing-config=false", "--allow-insecure-registry", "-y"}
			testenv.PushImage(t, srcHost, "cos", "v1")
			img := srcHost + "/cos:v1"
			cos(append([]string{"sign", "--key", "k.key", img}, opts...)...)
			cos(append([]string{"sign", "--key", "k.key", "--new-bundle-format=false", img}, opts...)...)
			cos(append([]string{"attest", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", img}, opts...)...)
			cos(append([]string{"attest", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", "--new-bundle-format=false", img}, opts...)...)

			// The destination already has the image with another key's legacy signature.
			if r := e.run("copy", "--only", "other", img, dstHost+"/cos:v1"); r.Code != 0 {
				t.Fatalf("copying the bare image: exit %d\n%s", r.Code, r.Stderr)
			}
			cos(append([]string{"sign", "--key", "other.key", "--new-bundle-format=false", dstHost + "/cos:v1"}, opts...)...)

			res := e.copyJSON(img, dstHost+"/cos")
			var kinds []string
			for _, a := range res.Attachments {
				kinds = append(kinds, string(a.Kind)+":"+string(a.Status))
			}
			slices.Sort(kinds)
			want := []string{"attestation:copied", "attestation:copied", "signature:copied", "signature:merged"}
			if !slices.Equal(kinds, want) {
				t.Errorf("attachments %q, want %q", kinds, want)
			}

			copied := dstHost + "/cos:v1"
			verifyArgs := []string{"--insecure-ignore-tlog", "--allow-insecure-registry"}
			for _, args := range [][]string{
				{"verify", "--key", "k.pub", copied},
				{"verify", "--key", "k.pub", "--new-bundle-format=false", copied},
				{"verify", "--key", "other.pub", "--new-bundle-format=false", copied},
				{"verify-attestation", "--key", "k.pub", "--type", "slsaprovenance1", copied},
				{"verify-attestation", "--key", "k.pub", "--type", "slsaprovenance1", "--new-bundle-format=false", copied},
			} {
				if r := testenv.Run(t, e.dir, cenv, cosign, append(args, verifyArgs...)...); r.Code != 0 {
					t.Errorf("cosign %s at the destination: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
				}
			}
			pol := attestationPolicy(e, dstHost, "")
			if r := e.run("verify", "--policy", pol, copied); r.Code != 0 {
				t.Errorf("imgsign verify at the destination: exit %d\n%s", r.Code, r.Stdout)
			}
			// Nothing left to merge or copy on a second run.
			if again := e.copyJSON(img, dstHost+"/cos"); countStatus(again, transfer.StatusExists) != 4 {
				t.Errorf("second copy: %+v", again.Attachments)
			}
		})
	}
}

// A copy cut off mid-blob is retried; one that keeps being cut off fails
// with exit 3 and one line, and the re-run finishes it without writing
// anything twice: each referrer is listed once at the destination.
func TestCopyInterrupted(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			srcHost := testenv.Registry(t, true).Addr
			dst := newRegProxy(t, reg.start(t))
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			e.write("prov.json", fixture(t, "attest/slsa-github.json"))
			// Two images: go-containerregistry's registry shares blobs
			// between repositories, so the second copy must have its own.
			for _, repo := range []string{"once", "app"} {
				testenv.PushImage(t, srcHost, repo, "v1")
				e.must("sign", "--key", "k.key", srcHost+"/"+repo+":v1")
				e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", srcHost+"/"+repo+":v1")
			}
			img := srcHost + "/app:v1"

			dst.drops.Store(1)
			if r := e.run("copy", srcHost+"/once:v1", dst.Host+"/once"); r.Code != 0 || dst.dropped.Load() != 1 {
				t.Fatalf("one dropped upload: exit %d, %d dropped\n%s", r.Code, dst.dropped.Load(), r.Stderr)
			}

			dst.drops.Store(-1)
			r := e.run("copy", img, dst.Host+"/app")
			if r.Code != 3 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "re-run the same command to resume") {
				t.Fatalf("copy through a connection that keeps dropping: exit %d\n%s", r.Code, r.Stderr)
			}
			t.Logf("interrupted: %s", r.Stderr)
			if e.run("tree", dst.Host+"/app:v1").Code == 0 {
				t.Error("the destination tag exists after an interrupted copy")
			}

			dst.drops.Store(0)
			res := e.copyJSON(img, dst.Host+"/app")
			if res.Images[0].Status != transfer.StatusCopied {
				t.Fatalf("re-run: %+v", res.Images[0])
			}
			e.must("verify", "--policy", attestationPolicy(e, dst.Host, ""), dst.Host+"/app:v1")
			repo := openRepo(t, dst.Host, "app")
			subject, err := repo.Resolve(context.Background(), repo.Name().Tag("v1"))
			if err != nil {
				t.Fatal(err)
			}
			listed, api, err := repo.Referrers(context.Background(), subject.Digest)
			if err == nil && !api {
				listed, err = repo.FallbackIndex(context.Background(), subject.Digest)
			}
			if err != nil {
				t.Fatal(err)
			}
			var ds []string
			for _, d := range listed {
				ds = append(ds, d.Digest.String())
			}
			slices.Sort(ds)
			if len(ds) != 2 || len(slices.Compact(slices.Clone(ds))) != 2 {
				t.Errorf("the destination lists %q, want each of the 2 referrers once", ds)
			}
		})
	}
}

// A destination whose referrers API answers 404 gets the referrers tag
// schema, and verify there still passes.
func TestCopyReferrersAPIRefused(t *testing.T) {
	srcHost := testenv.Distribution(t)
	dst := newRegProxy(t, testenv.Registry(t, true).Addr)
	dst.noReferrers.Store(true)
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, srcHost, "app", "v1")
	img := srcHost + "/app:v1"
	e.must("sign", "--key", "k.key", img)
	res := e.copyJSON(img, dst.Host+"/app")
	if res.DestinationReferrersAPI == nil || *res.DestinationReferrersAPI {
		t.Errorf("destinationReferrersApi = %v, want false", res.DestinationReferrersAPI)
	}
	e.must("verify", "--policy", e.policy(dst.Host, []string{"k"}, 1, nil), dst.Host+"/app:v1")
	tr := e.treeOf(dst.Host + "/app:v1")
	if tr.ReferrersAPI || len(tr.Attachments) != 1 || !slices.Contains(tr.Attachments[0].Sources, "referrers-tag") {
		t.Errorf("tree at the destination: %+v", tr)
	}
}

// --dry-run writes nothing; --only signatures copies the signature alone.
func TestCopyDryRunAndOnly(t *testing.T) {
	srcHost := testenv.Registry(t, true).Addr
	dst := newRegProxy(t, testenv.Distribution(t))
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, srcHost, "app", "v1")
	img := srcHost + "/app:v1"
	e.must("sign", "--key", "k.key", img)
	e.write("prov.json", fixture(t, "attest/slsa-github.json"))
	e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", img)

	dst.reset()
	out := e.must("copy", "--dry-run", img, dst.Host+"/app").Stdout
	if w := dst.writes(); w != 0 {
		t.Errorf("--dry-run wrote %d times", w)
	}
	for _, want := range []string{"dry run: nothing was written", "would copy", "signature", "attestation", "the referrers tag schema"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}

	res := e.copyJSON("--only", "signatures", img, dst.Host+"/app")
	for _, a := range res.Attachments {
		if want := map[transfer.Kind]transfer.Status{transfer.KindSignature: transfer.StatusCopied, transfer.KindAttestation: transfer.StatusSkipped}[a.Kind]; a.Status != want {
			t.Errorf("%s %s: %s, want %s", a.Kind, a.Digest, a.Status, want)
		}
	}
	tr := e.treeOf(dst.Host + "/app:v1")
	if len(tr.Attachments) != 1 || tr.Attachments[0].PredicateType != "https://sigstore.dev/cosign/sign/v1" {
		t.Errorf("after --only signatures the destination has %+v", tr.Attachments)
	}
	// The rest follows later.
	if later := e.copyJSON("--only", "attestations", img, dst.Host+"/app"); countStatus(later, transfer.StatusCopied) != 1 {
		t.Errorf("--only attestations afterwards: %+v", later.Attachments)
	}
}

// Every tag of a repository, with what is attached to each; attachment tags
// come as attachments, not as images. Within one registry blobs are
// mounted, not uploaded.
func TestCopyAllTags(t *testing.T) {
	host := testenv.Distribution(t)
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	for _, tag := range []string{"v1", "v2"} {
		testenv.PushImage(t, host, "src/app", tag)
		e.must("sign", "--key", "k.key", host+"/src/app:"+tag)
	}
	res := e.copyJSON("--all-tags", host+"/src/app", host+"/dst/app")
	var tags []string
	for _, img := range res.Images {
		tags = append(tags, img.Tag)
	}
	if strings.Join(tags, ",") != "v1,v2" || countStatus(res, transfer.StatusCopied) != 2 {
		t.Fatalf("--all-tags copied %q and %+v", tags, res.Attachments)
	}
	if res.Blobs.Mounted == 0 || res.Blobs.Copied != 0 {
		t.Errorf("blobs within one registry: %+v, want every one mounted", res.Blobs)
	}
	pol := e.policy(host, []string{"k"}, 1, nil)
	e.must("verify", "--policy", pol, host+"/dst/app:v1", host+"/dst/app:v2")
	if r := e.run("copy", "--all-tags", host+"/src/app:v1", host+"/dst/app"); r.Code != 2 {
		t.Errorf("--all-tags with a tag: exit %d\n%s", r.Code, r.Stderr)
	}

	// Between OCI layouts too: every tag of one layout into another, and
	// back to a registry, each still verifying.
	one, two := "oci:"+filepath.Join(e.dir, "one"), "oci:"+filepath.Join(e.dir, "two")
	e.copyJSON("--all-tags", host+"/src/app", one)
	res = e.copyJSON("--all-tags", one, two)
	tags = nil
	for _, img := range res.Images {
		tags = append(tags, img.Tag)
	}
	if strings.Join(tags, ",") != "v1,v2" || countStatus(res, transfer.StatusCopied) != 2 {
		t.Fatalf("--all-tags between layouts copied %q and %+v", tags, res.Attachments)
	}
	e.copyJSON("--all-tags", two, host+"/back/app")
	e.must("verify", "--policy", pol, host+"/back/app:v1", host+"/back/app:v2")
}

// Bad input is one line and exit 2; a destination that refuses writes is
// one line and exit 3.
func TestCopyBadInput(t *testing.T) {
	srcHost := testenv.Registry(t, true).Addr
	dst := newRegProxy(t, testenv.Registry(t, true).Addr)
	e := newEnv(t)
	testenv.PushImage(t, srcHost, "app", "v1")
	img := srcHost + "/app:v1"
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"source not found", []string{img[:len(img)-2] + "v9", dst.Host + "/app"}, 2, "not found"},
		{"same source and destination", []string{img, srcHost + "/app"}, 2, "same"},
		{"same with the tag spelt out", []string{img, img}, 2, "same"},
		{"unknown --only kind", []string{"--only", "signatures,keys", img, dst.Host + "/app"}, 2, `unknown kind "keys"`},
		{"bad --platform", []string{"--platform", "amd64", img, dst.Host + "/app"}, 2, "os/arch"},
		{"destination digest not the source's", []string{img, dst.Host + "/app@sha256:" + strings.Repeat("0", 64)}, 2, "names digest"},
		{"missing DST", []string{img}, 2, "missing SRC and DST"},
		{"destination unreachable", []string{img, "127.0.0.1:1/app"}, 3, "127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.run(append([]string{"copy"}, c.args...)...)
			if r.Code != c.code || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("exit %d (want %d), stderr (want one line with %q):\n%s", r.Code, c.code, c.want, r.Stderr)
			}
		})
	}
	t.Run("destination not writable", func(t *testing.T) {
		dst.denyWrites.Store(true)
		r := e.run("copy", img, dst.Host+"/app")
		if r.Code != 3 || !strings.Contains(r.Stderr, "DENIED") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("exit %d, stderr:\n%s", r.Code, r.Stderr)
		}
	})
}
