package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/transfer"
)

// notarySignatureType is the artifact type of a Notary Project signature
// manifest, as notation writes it.
const notarySignatureType = "application/vnd.cncf.notary.signature"

// notationSignatures runs `notation list` with args and returns the
// signature digests it lists, sorted. It has no JSON output: the first line
// is the subject, then the artifact type, then one "└── sha256:…" line per
// signature.
func notationSignatures(t *testing.T, n *testenv.NotationCLI, args ...string) []string {
	t.Helper()
	out := n.Run(t, append([]string{"list"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sigs []string
	for _, l := range lines[1:] {
		if _, d, ok := strings.Cut(l, "── "); ok && strings.HasPrefix(d, "sha256:") {
			sigs = append(sigs, strings.TrimSpace(d))
		}
	}
	slices.Sort(sigs)
	return sigs
}

// notarySignatures are the digests of the Notary Project signatures tree
// lists, sorted.
func notarySignatures(e *env, image string) []string {
	var sigs []string
	for _, a := range e.treeOf(image).Attachments {
		if a.ArtifactType == notarySignatureType {
			sigs = append(sigs, a.Referrer)
		}
	}
	slices.Sort(sigs)
	return sigs
}

// Issue #15: a layout imgsign wrote and notation then signed (notation
// v1.3.2's experimental --oci-layout, which adds the signature manifest to
// index.json with the image as its subject). imgsign's tree lists the
// signature; imgsign copy takes it intact (same digests) to either kind of
// registry, where `notation verify` passes, and back into a new layout,
// where `notation verify --oci-layout` passes.
func TestLayoutSignedByNotation(t *testing.T) {
	src := testenv.Registry(t, true).Addr
	img := testenv.PushImage(t, src, "team/app", "v1")
	n := testenv.Notation(t)
	e := newEnv(t)
	dir := filepath.Join(e.dir, "layout")
	layoutRef := "oci:" + dir + ":v1"
	e.must("copy", src+"/team/app:v1", layoutRef)

	n.Run(t, "sign", "--oci-layout", dir+":v1")
	sigs := notationSignatures(t, n, "--oci-layout", dir+"@"+img.String())
	if len(sigs) != 1 {
		t.Fatalf("notation lists %d signatures in the layout, want 1: %q", len(sigs), sigs)
	}
	n.Run(t, "verify", "--oci-layout", "--scope", "local/layout", dir+"@"+img.String())

	tr := e.treeOf(layoutRef)
	if tr.Digest != img.String() {
		t.Fatalf("tree resolved %s to %s, want %s", layoutRef, tr.Digest, img)
	}
	if got := notarySignatures(e, layoutRef); !slices.Equal(got, sigs) {
		t.Fatalf("tree of the layout lists notation signatures %q, notation lists %q; all attachments: %+v", got, sigs, tr.Attachments)
	}

	// imgsign verifies notation's signature in the layout, judged as the
	// repository it came from, and wherever it is copied.
	pol := e.write("notary-trust.yaml", `version: 1
trustStores:
  - {name: notation-test, type: ca, certificates: [`+n.CertFile+`]}
x509Signers:
  - {name: notation-test, trustStores: [notation-test], trustedIdentities: ["*"]}
policies:
  - {name: all, scopes: ["**"], signatures: {keys: [notation-test]}}
`)
	if r := e.run("verify", "--policy", pol, "--as", src+"/team/app", layoutRef); r.Code != 0 {
		t.Fatalf("imgsign verify of the notation-signed layout: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	for _, to := range registries {
		t.Run("to "+to.name, func(t *testing.T) {
			e := &env{t: t, dir: e.dir, bin: e.bin}
			dst := to.start(t)
			res := e.copyJSON(layoutRef, dst+"/mirror/app")
			if len(res.Images) != 1 || res.Images[0].Status != transfer.StatusCopied || res.Images[0].Digest != img.String() {
				t.Fatalf("images: %+v", res.Images)
			}
			if len(res.Attachments) != 1 || res.Attachments[0].Status != transfer.StatusCopied || res.Attachments[0].Digest != sigs[0] {
				t.Fatalf("attachments: %+v, want the notation signature %s copied", res.Attachments, sigs[0])
			}

			copied := dst + "/mirror/app@" + img.String()
			if got := notarySignatures(e, copied); !slices.Equal(got, sigs) {
				t.Errorf("tree at the destination lists notation signatures %q, want %q", got, sigs)
			}
			if got := notationSignatures(t, n, "--insecure-registry", copied); !slices.Equal(got, sigs) {
				t.Errorf("notation lists %q at the destination, want %q", got, sigs)
			}
			out := n.Run(t, "verify", "--insecure-registry", copied)
			if !strings.Contains(out, "Successfully verified") {
				t.Errorf("notation verify at the destination: %s", out)
			}
			// The verify above means something: an image notation did not
			// sign fails it there.
			other := testenv.PushImage(t, dst, "mirror/unsigned", "v1")
			if r := n.Exec(t, "verify", "--insecure-registry", dst+"/mirror/unsigned@"+other.String()); r.Code == 0 {
				t.Errorf("notation verify passed an unsigned image:\n%s", r.Stdout)
			}

			if r := e.run("verify", "--policy", pol, copied); r.Code != 0 || !strings.Contains(r.Stdout, "[notary-jws]") {
				t.Errorf("imgsign verify at the destination: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if r := e.run("verify", "--policy", pol, dst+"/mirror/unsigned@"+other.String()); r.Code != 1 {
				t.Errorf("imgsign verify of an unsigned image: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
			}

			back := filepath.Join(t.TempDir(), "back")
			e.copyJSON(dst+"/mirror/app:v1", "oci:"+back+":v1")
			if got := notarySignatures(e, "oci:"+back+":v1"); !slices.Equal(got, sigs) {
				t.Errorf("tree of the layout copied back lists %q, want %q", got, sigs)
			}
			n.Run(t, "verify", "--oci-layout", "--scope", "local/back", back+":v1")
		})
	}
}

// An image notation signed in a registry, copied by imgsign to either kind
// of registry: tree lists the same signature at both ends and `notation
// verify` passes at the destination. On the referrers-API registry notation
// is asked to use the API (--force-referrers-tag=false; its default is the
// tag schema), but it writes the sha256-<digest> tag index there too: the
// registry answers the manifest push without an OCI-Subject header, which
// oras-go takes for no referrers support. imgsign finds the signature
// through the API there and through the tag index on distribution.
func TestCopyNotationSigned(t *testing.T) {
	for _, from := range registries {
		for _, to := range registries {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				srcHost, dstHost := from.start(t), to.start(t)
				n := testenv.Notation(t)
				e := newEnv(t)
				img := testenv.PushImage(t, srcHost, "team/app", "v1")
				signed := srcHost + "/team/app@" + img.String()
				args := []string{"sign", "--insecure-registry"}
				if from.name == "referrers-api" {
					args = append(args, "--force-referrers-tag=false")
				}
				n.Run(t, append(args, signed)...)
				sigs := notationSignatures(t, n, "--insecure-registry", signed)
				if len(sigs) != 1 {
					t.Fatalf("notation lists %d signatures, want 1: %q", len(sigs), sigs)
				}
				if got := notarySignatures(e, signed); !slices.Equal(got, sigs) {
					t.Fatalf("tree at the source lists notation signatures %q, notation lists %q", got, sigs)
				}

				res := e.copyJSON(srcHost+"/team/app:v1", dstHost+"/mirror/app")
				if len(res.Images) != 1 || res.Images[0].Status != transfer.StatusCopied {
					t.Fatalf("images: %+v", res.Images)
				}
				if n := countStatus(res, transfer.StatusCopied); n != 1 {
					t.Errorf("copied %d attachments, want the notation signature: %+v", n, res.Attachments)
				}
				copied := dstHost + "/mirror/app@" + img.String()
				if got := notarySignatures(e, copied); !slices.Equal(got, sigs) {
					t.Errorf("tree at the destination lists notation signatures %q, want %q", got, sigs)
				}
				n.Run(t, "verify", "--insecure-registry", copied)
				n.Run(t, "verify", "--insecure-registry", dstHost+"/mirror/app:v1")
			})
		}
	}
}
