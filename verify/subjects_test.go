package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// A signed statement counts for an image only when every subject is that
// image: one that also names another digest is not a signature of either.
func TestOnlyAbout(t *testing.T) {
	a, b := map[string]string{"sha256": subjectA.Hex}, map[string]string{"sha256": subjectB.Hex}
	cases := []struct {
		name     string
		subjects []map[string]string
		want     string // "" = counts
	}{
		{"the image", []map[string]string{a}, ""},
		{"the image twice", []map[string]string{a, a}, ""},
		{"the image and another", []map[string]string{a, b}, "also names sha256:" + subjectB.Hex},
		{"another and the image", []map[string]string{b, a}, "also names sha256:" + subjectB.Hex},
		{"another digest algorithm too", []map[string]string{{"sha256": subjectA.Hex, "sha512": strings.Repeat("c", 128)}}, "sha512 digest"},
		{"another algorithm only", []map[string]string{a, {"sha512": strings.Repeat("c", 128)}}, "sha512 digest"},
		{"a subject without digest", []map[string]string{a, {}}, "without a digest"},
		{"no subject", nil, "names no subject"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := onlyAbout(c.subjects, subjectA)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("onlyAbout = %v, want %q", err, c.want)
			}
		})
	}
}

// A bundle and a cosign legacy .att whose statements name the image and
// another are refused, with the signing key reported; the same statement
// about the image alone counts.
func TestSeveralSubjectsDoNotCount(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	v := New(nil, p)
	repo, err := name.NewRepository("example.com/app")
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range []string{statement.Signature, statement.SLSAProvenanceV1} {
		for _, digests := range [][]v1.Hash{{subjectA}, {subjectA, subjectB}, {subjectB, subjectA}} {
			st, err := statement.AboutAll(repo, digests, pt, map[string]any{"buildDefinition": map[string]any{"buildType": "x"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			alone := len(digests) == 1
			raw, err := sign.Bundle(context.Background(), st, mustSigner(t, k), "")
			if err != nil {
				t.Fatal(err)
			}
			cands := map[string]candidate{
				"bundle":     checkBundle(raw, subjectA, p, v.verifiers, nil, v.now()),
				"legacy att": checkLegacyAttestation(envelope(t, k, st), nil, subjectA, p, v.verifiers, v.now()),
			}
			for where, c := range cands {
				if alone {
					if c.err != nil || c.key == nil {
						t.Errorf("%s %s about the image alone: key %v err %v", where, pt, c.key, c.err)
					}
					continue
				}
				if c.key != nil || c.err == nil || !strings.Contains(c.err.Error(), "also names sha256:"+subjectB.Hex) {
					t.Errorf("%s %s about %v: key %v err %v", where, pt, digests, c.key, c.err)
				}
				if id := mustSigner(t, k).ID(); c.keyID != id {
					t.Errorf("%s: key id %q, want the signer's %q in the report", where, c.keyID, id)
				}
			}
		}
	}
}

// about, checked after the signature held, tells a statement signed for
// another image apart from one about several images, each under its code.
func TestAbout(t *testing.T) {
	a := map[string]string{"sha256": subjectA.Hex}
	b := map[string]string{"sha256": subjectB.Hex}
	cases := []struct {
		name     string
		subjects []map[string]string
		want     string // "" = counts
	}{
		{"the image", []map[string]string{a}, ""},
		{"another image only", []map[string]string{b}, "is about another image"},
		{"the image and another", []map[string]string{a, b}, "also names"},
		{"no subject", nil, "names no subject"},
		{"another algorithm only", []map[string]string{{"sha512": strings.Repeat("c", 128)}}, "is about another image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := about(c.subjects, subjectA)
			if c.want == "" {
				if err != nil {
					t.Fatalf("about = %v, want it to count", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || candidateCode(err) != CodeSubjectMismatch {
				t.Fatalf("about = %v (code %q), want %q as %s", err, candidateCode(err), c.want, CodeSubjectMismatch)
			}
		})
	}
}
