package statement

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const digestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func built(t *testing.T, digests []string, predicateType string, predicate any, ann map[string]string) *Statement {
	t.Helper()
	repo, err := name.NewRepository("r.io/app")
	if err != nil {
		t.Fatal(err)
	}
	var hs []v1.Hash
	for _, d := range digests {
		h, err := v1.NewHash(d)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	raw, err := AboutAll(repo, hs, predicateType, predicate, ann)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTagFor(t *testing.T) {
	other := "sha256:" + strings.Repeat("2", 64)
	cases := []struct {
		name   string
		st     *Statement
		digest string
		want   string
	}{
		{"tag bound", built(t, []string{digestA}, Signature, map[string]any{}, map[string]string{TagAnnotation: "v1", "env": "prod"}), digestA, "v1"},
		{"annotations without a tag", built(t, []string{digestA}, Signature, map[string]any{}, map[string]string{"env": "prod"}), digestA, ""},
		{"subject about another digest", built(t, []string{digestA}, Signature, map[string]any{}, map[string]string{TagAnnotation: "v1"}), other, ""},
		// cosign's legacy simple-signing payloads have no subject.
		{"no subject", FromDocument(map[string]any{"predicate": map[string]any{}}), digestA, ""},
		{"tag of the wrong type", FromDocument(map[string]any{"subject": []any{map[string]any{"digest": map[string]any{"sha256": strings.Repeat("1", 64)}, "annotations": map[string]any{TagAnnotation: 7}}}}), digestA, ""},
		{"nil statement", nil, digestA, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.st.TagFor(tc.digest); got != tc.want {
				t.Errorf("TagFor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAnnotatedIsFirstAnnotatedSubjectAboutDigest(t *testing.T) {
	hex := strings.Repeat("1", 64)
	st := FromDocument(map[string]any{"subject": []any{
		map[string]any{"name": "plain", "digest": map[string]any{"sha256": hex}},
		map[string]any{"name": "first", "digest": map[string]any{"sha256": hex}, "annotations": map[string]any{TagAnnotation: "a"}},
		map[string]any{"name": "second", "digest": map[string]any{"sha256": hex}, "annotations": map[string]any{TagAnnotation: "b"}},
	}})
	sub, ok := st.Annotated(digestA)
	if !ok || sub.Name != "first" || st.TagFor(digestA) != "a" {
		t.Fatalf("Annotated = %+v, %v; TagFor %q", sub, ok, st.TagFor(digestA))
	}
}

func TestTime(t *testing.T) {
	at := "2026-11-01T10:00:00Z"
	cases := []struct {
		name      string
		typ       string
		predicate map[string]any
		field     string
		err       string
	}{
		{"SLSA v1 finishedOn", SLSAProvenanceV1, map[string]any{"runDetails": map[string]any{"metadata": map[string]any{"finishedOn": at}}}, "runDetails.metadata.finishedOn", ""},
		{"SLSA v1 startedOn when no finishedOn", SLSAProvenanceV1, map[string]any{"runDetails": map[string]any{"metadata": map[string]any{"startedOn": at}}}, "runDetails.metadata.startedOn", ""},
		{"SPDX versioned type", SPDX + "/v2.3", map[string]any{"creationInfo": map[string]any{"created": at}}, "creationInfo.created", ""},
		{"not a time", SLSAProvenanceV1, map[string]any{"runDetails": map[string]any{"metadata": map[string]any{"finishedOn": "yesterday"}}}, "", "is not an RFC 3339 time"},
		{"a number where a time belongs", CycloneDX, map[string]any{"metadata": map[string]any{"timestamp": 1.7e9}}, "", "is not an RFC 3339 time"},
		{"no time field", SLSAProvenanceV1, map[string]any{}, "", "carries no signed time"},
		{"unknown type", "https://example.com/x/v1", map[string]any{"timestamp": at}, "", "carry no signed time imgsign knows"},
		{"prefix is not a versioned form", SPDX + "Evil", map[string]any{"creationInfo": map[string]any{"created": at}}, "", "carry no signed time imgsign knows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := FromDocument(map[string]any{"predicateType": tc.typ, "predicate": tc.predicate})
			got, field, err := st.Time()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Time() = %v, %q, %v; want error containing %q", got, field, err, tc.err)
				}
				return
			}
			if err != nil || field != tc.field || got.Format(time.RFC3339) != at {
				t.Fatalf("Time() = %v, %q, %v; want %s from %s", got, field, err, at, tc.field)
			}
		})
	}
}

func TestSignedTimeFields(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want string
	}{
		{"https://slsa.dev/provenance/v1", "runDetails.metadata.finishedOn"},
		{"https://slsa.dev/provenance/v0.2", "metadata.buildFinishedOn"},
		{"https://spdx.dev/Document", "creationInfo.created"},
		{"https://spdx.dev/Document/v2.3", "creationInfo.created"},
		{"https://cyclonedx.org/bom/v1.6", "metadata.timestamp"},
		{"https://cosign.sigstore.dev/attestation/vuln/v1", "metadata.scanFinishedOn"},
		{"https://openvex.dev/ns/v0.2.0", "last_updated"},
		{"https://spdx.dev/DocumentX", ""}, // a prefix is a path segment, not any string
		{"https://slsa.dev/provenance/v1/x", ""},
		{"https://example.com/custom/v1", ""},
	} {
		got := ""
		if f := SignedTimeFields(tc.typ); f != nil {
			got = f[0]
		}
		if got != tc.want {
			t.Errorf("SignedTimeFields(%s) first field %q, want %q", tc.typ, got, tc.want)
		}
	}
}

func TestResolveType(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"slsaprovenance", SLSAProvenanceV02, ""},
		{"SLSAProvenance1 ", SLSAProvenanceV1, ""},
		{"spdxjson", SPDX, ""},
		{"https://acme.example/review/v1", "https://acme.example/review/v1", ""},
		{"review", "", "neither an absolute URI nor one of"},
		{Signature, "", "is the plain image signature"},
	}
	for _, tc := range cases {
		got, err := ResolveType(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolveType(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParse: a verified payload may still be any JSON; reading it never
// panics, and every subject Annotated returns is about the digest asked for.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("1", 64) + `"},"annotations":{"dev.imgsign.tag":"v1"}}],"predicateType":"x","predicate":{}}`))
	f.Add([]byte(`{"subject":[{"digest":null,"annotations":null}],"predicate":[]}`))
	f.Add([]byte(`{"subject":"x","predicateType":7}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := Parse(raw)
		if err != nil {
			var v map[string]any
			if json.Unmarshal(raw, &v) == nil {
				t.Fatalf("refused a JSON object: %v", err)
			}
			return
		}
		_, _, _ = st.Time()
		_ = st.PredicateObject()
		if sub, ok := st.Annotated(digestA); ok && sub.Digest["sha256"] != strings.Repeat("1", 64) {
			t.Fatalf("Annotated returned a subject about %v", sub.Digest)
		}
	})
}
