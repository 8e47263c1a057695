package provenance

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// A statement encoding/json reads one way and a case-sensitive or strict
// parser (protojson in sigstore-go, any other language) another is never
// signable: imgsign signs the bytes, so every verifier must read the subject
// and predicate imgsign checked.
func TestSignableRefusesAmbiguousStatements(t *testing.T) {
	victim := strings.Repeat("b", 64)
	spdx := `{"spdxVersion":"SPDX-2.3"}`
	cases := []struct {
		name string
		// statement is written with %[1]s the platform digest, %[2]s the
		// victim's and %[3]s a predicate.
		statement string
		want      string // "" = signable
	}{
		{"exact keys", `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"x","digest":{"sha256":"%[1]s"}}],"predicate":%[3]s}`, ""},
		{"SUBJECT beside subject", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[2]s"}}],"SUBJECT":[{"digest":{"sha256":"%[1]s"}}],"predicate":%[3]s}`, "strict in-toto"},
		{"Subject alone", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","Subject":[{"digest":{"sha256":"%[1]s"}}],"predicate":%[3]s}`, "strict in-toto"},
		{"subject twice", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[2]s"}}],"subject":[{"digest":{"sha256":"%[1]s"}}],"predicate":%[3]s}`, "strict in-toto"},
		{"Digest beside digest", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[2]s"},"Digest":{"sha256":"%[1]s"}}],"predicate":%[3]s}`, "strict in-toto"},
		{"predicate twice", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[1]s"}}],"predicate":{"a":1},"Predicate":%[3]s}`, "strict in-toto"},
		{"key twice inside the predicate", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[1]s"}}],"predicate":{"name":"a","name":"b"}}`, "strict in-toto"},
		{"unknown top-level field", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"%[1]s"}}],"predicate":%[3]s,"extra":1}`, "strict in-toto"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			atts, err := FromIndex(context.Background(), rawStatementIndex(t, func(p v1.Hash) string {
				return fmt.Sprintf(c.statement, p.Hex, victim, spdx)
			}))
			if err != nil {
				t.Fatalf("FromIndex: %v", err)
			}
			if len(atts) != 1 {
				t.Fatalf("got %d attestations, want 1", len(atts))
			}
			err = atts[0].Signable()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Signable() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Signable() = %v, want an error containing %q", err, c.want)
			case err != nil:
				if k, _ := errkind.Of(err); k != errkind.Input {
					t.Errorf("kind %v, want input (exit 2)", k)
				}
			}
		})
	}
}

// rawStatementIndex is a one-platform index whose attestation manifest holds
// one statement written byte for byte by stmt.
func rawStatementIndex(t *testing.T, stmt func(platform v1.Hash) string) v1.ImageIndex {
	t.Helper()
	img := platformImage(t, "linux/amd64")
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	att, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), mutate.Addendum{
		Layer: static.NewLayer([]byte(stmt(d)), types.MediaType(MediaTypeInToto)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{AnnotationReferenceType: ReferenceTypeAttestation, AnnotationReferenceDigest: d.String()},
		}})
}

// Whatever statement the build writes, one attest buildkit would sign reads
// the same to a strict verifier (protojson, as sigstore-go parses it): one
// subject, the platform manifest's sha256 digest alone, and the predicate
// type imgsign checked.
func FuzzSignableStatement(f *testing.F) {
	for _, s := range []string{
		`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"x","digest":{"sha256":"PLATFORM"}}],"predicate":{"spdxVersion":"SPDX-2.3"}}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"VICTIM"}}],"SUBJECT":[{"digest":{"sha256":"PLATFORM"}}],"predicate":{}}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicate_type":"https://sigstore.dev/cosign/sign/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"PLATFORM"}}],"predicate":{}}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://cyclonedx.org/bom","subject":[{"digest":{"sha256":"PLATFORM","SHA256":"VICTIM"}}],"predicate":{"a":[1,2,{"b":null}]}}`,
	} {
		f.Add(s)
	}
	victim := strings.Repeat("b", 64)
	f.Fuzz(func(t *testing.T, stmt string) {
		var platform v1.Hash
		idx := rawStatementIndex(t, func(p v1.Hash) string {
			platform = p
			return strings.NewReplacer("PLATFORM", p.Hex, "VICTIM", victim).Replace(stmt)
		})
		atts, err := FromIndex(context.Background(), idx)
		if err != nil || len(atts) != 1 || atts[0].Signable() != nil {
			return
		}
		a := atts[0]
		var st intoto.Statement
		if err := protojson.Unmarshal(a.Statement, &st); err != nil {
			t.Fatalf("signable statement does not parse strictly: %v\n%s", err, a.Statement)
		}
		if st.GetPredicateType() != a.PredicateType {
			t.Errorf("strict predicate type %q, imgsign checked %q", st.GetPredicateType(), a.PredicateType)
		}
		subs := st.GetSubject()
		if len(subs) != 1 || len(subs[0].GetDigest()) != 1 || subs[0].GetDigest()["sha256"] != platform.Hex {
			t.Errorf("strict subjects %v, want only sha256:%s\n%s", subs, platform.Hex, a.Statement)
		}
	})
}

// The merge path checks the provenance as parsed: keys encoding/json matches
// case-insensitively cannot carry the CI's source fields or another build
// type past the exact-key check into what imgsign signs.
func TestGenerateRefusesCaseVariantBuildKitKeys(t *testing.T) {
	workflow := `{"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.0.0"}`
	cases := []struct {
		name, predicateType, predicate, want string
	}{
		{"ExternalParameters beside externalParameters", statement.SLSAProvenanceV1,
			`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {}, "ExternalParameters": {"workflow": ` + workflow + `}}, "runDetails": {"builder": {"id": "x"}}}`, "externalParameters.workflow"},
		{"externalparameters alone", statement.SLSAProvenanceV1,
			`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalparameters": {"source": ` + workflow + `}}, "runDetails": {"builder": {"id": "x"}}}`, "externalParameters.source"},
		{"BuildDefinition beside buildDefinition", statement.SLSAProvenanceV1,
			`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {}}, "BuildDefinition": {"buildType": "` + statement.GitHubBuildType + `", "externalParameters": {"workflow": ` + workflow + `}}}`, "is not BuildKit's"},
		{"InternalParameters with imgsign's keys", statement.SLSAProvenanceV1,
			`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {}, "InternalParameters": {"github": {}}}}`, "internalParameters.github"},
		{"v0.2 BuildType beside buildType", statement.SLSAProvenanceV02,
			`{"buildType": "` + statement.BuildKitBuildTypeV02 + `", "BuildType": "` + statement.GitHubBuildType + `", "builder": {"id": "x"}}`, "is not BuildKit's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Inputs{Env: MapEnv(nil), BuilderID: "https://ci.example/job", Now: fixedNow,
				InIndex: &Attestation{Subject: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, PredicateType: c.predicateType, Predicate: []byte(c.predicate)}}
			_, err := Generate(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Generate = %v, want an error containing %q", err, c.want)
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Errorf("kind %v, want input (exit 2)", k)
			}
		})
	}
}
