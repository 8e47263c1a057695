package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// Attacks through the build's outputs: the in-toto statements BuildKit
// stores in an image index are written by whoever runs the build (or can push
// the index), so imgsign must never sign one that vouches for anything but
// the platform manifest it is attached to, nor let a trusted signature over
// several images count for one of them; and provenance conditions on the
// source must read the source the CI recorded, never a material the build
// listed.

const (
	builderRelease = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	bkProvenanceV1 = "https://slsa.dev/provenance/v1"
)

func init() {
	addAttacks(
		attack{
			name:   "BuildKit signature statement naming a victim, signed by attest buildkit and copied onto the victim",
			guards: "attest buildkit signs only statements whose one subject is the platform manifest they are attached to; a copied referrer never makes an unsigned image pass signatures",
			run: func(t *testing.T, s *scene) []string {
				victim := s.image("victim")
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{statement.Signature, `{}`, []map[string]string{sha256Of(p), sha256Of(victim)}}}
				})
				s.attestBuildKitAndCopy("build", victim)
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "BuildKit provenance naming a victim, signed by attest buildkit and copied onto the victim",
			guards: "a BuildKit provenance statement about several images is never signed, so SLSA provenance with builderId cannot be carried to a victim",
			run: func(t *testing.T, s *scene) []string {
				victim := s.image("victim")
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{bkProvenanceV1, buildKitV1Predicate(builderRelease, ""), []map[string]string{sha256Of(p), sha256Of(victim)}}}
				})
				s.attestBuildKitAndCopy("build", victim)
				return []string{"verify", "--policy", s.provenancePolicy("        builderId: " + builderRelease + "\n"), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "attest buildkit given a statement with an extra subject",
			guards: "a BuildKit statement is signed only when its subject list is exactly the platform manifest it is attached to",
			run: func(t *testing.T, s *scene) []string {
				other := s.image("other")
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{"https://spdx.dev/Document", spdxPredicate, []map[string]string{sha256Of(p), sha256Of(other)}}}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"names 2 subjects", "refusing to sign"},
		},
		attack{
			name:   "attest buildkit given a subject with a second digest algorithm",
			guards: "a BuildKit statement's one subject carries only the platform manifest's sha256 digest: another algorithm could name another image",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					d := sha256Of(p)
					d["sha512"] = strings.Repeat("ab", 64)
					return []bkStatement{{"https://spdx.dev/Document", spdxPredicate, []map[string]string{d}}}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"sha512", "refusing to sign"},
		},
		attack{
			name:   "attest buildkit given the plain-signature predicate type",
			guards: "attest buildkit signs only the predicate types BuildKit emits (SLSA provenance v0.2/v1, SPDX, CycloneDX), never a plain signature",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{
						{"https://spdx.dev/Document", spdxPredicate, []map[string]string{sha256Of(p)}},
						{statement.Signature, `{}`, []map[string]string{sha256Of(p)}},
					}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", "--output", "json", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{statement.Signature, "refusing to sign"},
			// Nothing is pushed when one statement is refused: no half-set.
			notWant: []string{`"referrer"`},
		},
		attack{
			name:   "attest buildkit given provenance that claims the CI workflow",
			guards: "BuildKit's provenance never carries the source fields the CI records (externalParameters.workflow), so a build cannot forge sourceRepository",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					pred := strings.Replace(buildKitV1Predicate(builderRelease, ""), `"externalParameters": {`,
						`"externalParameters": {"workflow": {"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.0.0", "path": ".github/workflows/release.yml"}, `, 1)
					return []bkStatement{{bkProvenanceV1, pred, []map[string]string{sha256Of(p)}}}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"externalParameters.workflow", "refusing to sign"},
		},
		attack{
			name:   "attest predicate with the plain-signature predicate type",
			guards: "no attest command produces the plain-signature predicate type: only sign does",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				s.write("empty.json", `{}`)
				return []string{"attest", "predicate", "--key", "k.key", "--type", statement.Signature, "--predicate", "empty.json", s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{statement.Signature, "imgsign sign"},
		},
		attack{
			name:   "trusted signature over two images copied onto one of them",
			guards: "a signature statement counts only when every subject is the image being verified",
			run: func(t *testing.T, s *scene) []string {
				mine := s.image("mine")
				victim := s.image("victim")
				st := s.statementAbout(statement.Signature, map[string]any{}, mine, victim)
				attachRaw(t, s.host, s.repo, victim, s.signStatement(st))
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "also names sha256:"},
		},
		attack{
			name:   "trusted provenance over two images copied onto one of them",
			guards: "an attestation counts only when every subject of its statement is the image being verified",
			run: func(t *testing.T, s *scene) []string {
				mine := s.image("mine")
				victim := s.image("victim")
				var pred map[string]any
				if err := json.Unmarshal([]byte(fixture(t, "attest/slsa-github.json")), &pred); err != nil {
					t.Fatal(err)
				}
				st := s.statementAbout(bkProvenanceV1, pred, mine, victim)
				attachReferrerAs(t, s.host, s.repo, victim, bkProvenanceV1, s.signStatement(st))
				return []string{"verify", "--policy", s.provenancePolicy("        builderId: " + builderRelease + "\n"), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "also names sha256:"},
		},
		attack{
			name:   "cosign legacy attestation over two images under the victim's .att tag",
			guards: "a cosign legacy .att statement counts only when every subject is the image being verified",
			run: func(t *testing.T, s *scene) []string {
				mine := s.image("mine")
				victim := s.image("victim")
				var pred map[string]any
				if err := json.Unmarshal([]byte(fixture(t, "attest/slsa-github.json")), &pred); err != nil {
					t.Fatal(err)
				}
				st := s.statementAbout(bkProvenanceV1, pred, mine, victim)
				s.pushLegacyAtt(victim, bkProvenanceV1, s.signStatement(st))
				return []string{"verify", "--policy", s.provenancePolicy("        builderId: " + builderRelease + "\n"), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "also names sha256:"},
		},
		attack{
			name:   "sourceRepository matched on a resolved dependency the build listed",
			guards: "sourceRepository matches the build's own source (the CI's workflow repository), never a material the build wrote",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{bkProvenanceV1, buildKitV1Predicate("https://buildkit.example/evil", "git+https://github.com/acme/app@refs/heads/main"), []map[string]string{sha256Of(p)}}}
				})
				s.trusted()
				// CI for acme/evil attests what it built, BuildKit's materials merged in.
				s.ciAttestProvenance("acme/evil", "refs/heads/main", "build")
				return []string{"verify", "--policy", s.provenancePolicy("        sourceRepository: github.com/acme/app\n"), s.ref("build")}
			},
			wantCode: 1,
			want:     []string{"FAIL", `condition "sourceRepository: github.com/acme/app" failed`},
		},
		attack{
			name:   "sourceRef satisfied by a different entry than sourceRepository",
			guards: "sourceRepository and sourceRef are both judged on the one source the CI recorded",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{bkProvenanceV1, buildKitV1Predicate("https://buildkit.example/x", "git+https://github.com/other/lib@refs/tags/v9.0.0"), []map[string]string{sha256Of(p)}}}
				})
				s.trusted()
				// The right repository, built from a feature branch.
				s.ciAttestProvenance("acme/app", "refs/heads/feature", "build")
				return []string{"verify", "--policy", s.provenancePolicy("        sourceRepository: github.com/acme/app\n        sourceRef: refs/tags/v*\n"), s.ref("build")}
			},
			wantCode: 1,
			want:     []string{"FAIL", `condition "sourceRef: refs/tags/v*" failed`},
		},
		attack{
			name:   "BuildKit provenance dressed as imgsign's generic build type",
			guards: "the provenance generator takes from BuildKit only BuildKit's build type, never the source fields imgsign records",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					pred := `{"buildDefinition": {"buildType": "` + statement.GenericBuildType + `", "externalParameters": {"source": {"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.0.0"}}}, "runDetails": {"builder": {"id": "https://buildkit.example/x"}}}`
					return []bkStatement{{bkProvenanceV1, pred, []map[string]string{sha256Of(p)}}}
				})
				s.trusted()
				return []string{"attest", "provenance", "--key", "k.key", "--from-image", "--builder-id", "https://ci.example/job", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"buildType", statement.GenericBuildType},
		},
	)
}

const spdxPredicate = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom","documentNamespace":"https://docker.com/docker/sbom/attack","creationInfo":{"created":"2026-11-20T10:16:40Z","creators":["Tool: buildkit-v0.17.2"]},"packages":[]}`

// buildKitV1Predicate is a SLSA v1 predicate in BuildKit's shape, with a
// builder id and optionally one git material.
func buildKitV1Predicate(builderID, gitMaterial string) string {
	deps := `[]`
	if gitMaterial != "" {
		deps = `[{"uri": "` + gitMaterial + `", "digest": {"sha1": "89abcdef0123456789abcdef0123456789abcdef"}}]`
	}
	return `{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {"configSource": {}, "request": {"frontend": "dockerfile.v0"}}, "internalParameters": {"builderPlatform": "linux/amd64"}, "resolvedDependencies": ` + deps + `}, "runDetails": {"builder": {"id": "` + builderID + `"}, "metadata": {"invocationId": "attack"}}}`
}

// bkStatement is one in-toto statement the build writes into the index.
type bkStatement struct {
	predicateType string
	predicate     string
	subjects      []map[string]string
}

func sha256Of(h v1.Hash) map[string]string { return map[string]string{h.Algorithm: h.Hex} }

// buildKitIndex pushes repo:tag as BuildKit leaves a one-platform build: a
// linux/amd64 image and an unknown/unknown attestation manifest for it whose
// layers are the statements stmts returns for the platform digest.
func (s *scene) buildKitIndex(tag string, stmts func(platform v1.Hash) []bkStatement) (index, platform v1.Hash) {
	t := s.t
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("layer of "+s.repo+":"+tag), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	platform, _ = img.Digest()
	att := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, st := range stmts(platform) {
		var subjects []any
		for _, d := range st.subjects {
			subjects = append(subjects, map[string]any{"name": "pkg:docker/" + s.host + "/" + s.repo + "@" + tag, "digest": d})
		}
		raw, err := json.Marshal(map[string]any{"_type": provenance.StatementTypeV1, "predicateType": st.predicateType, "predicate": json.RawMessage(st.predicate), "subject": subjects})
		if err != nil {
			t.Fatal(err)
		}
		if att, err = mutate.Append(att, mutate.Addendum{
			Layer:       static.NewLayer(raw, types.MediaType(provenance.MediaTypeInToto)),
			Annotations: map[string]string{provenance.AnnotationPredicateType: st.predicateType},
		}); err != nil {
			t.Fatal(err)
		}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{provenance.AnnotationReferenceType: provenance.ReferenceTypeAttestation, provenance.AnnotationReferenceDigest: platform.String()},
		}})
	ref, err := name.ParseReference(s.ref(tag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	index, _ = idx.Digest()
	return index, platform
}

// attestBuildKitAndCopy has CI run `attest buildkit` on repo:tag with the
// trusted key and, for whatever it signed, copies each referrer's bundle
// onto victim, as an attacker with push access would.
func (s *scene) attestBuildKitAndCopy(tag string, victim v1.Hash) {
	t := s.t
	t.Helper()
	s.trusted()
	r := s.run("attest", "buildkit", "--key", "k.key", "--output", "json", s.ref(tag))
	if r.Code != 0 {
		return // refused: nothing to copy
	}
	var res sign.Result
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("attest buildkit output: %v\n%s", err, r.Stdout)
	}
	rp := openRepo(t, s.host, s.repo)
	for _, a := range res.Attached {
		d, err := v1.NewHash(a.Referrer)
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := rp.Manifest(context.Background(), "", d)
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("referrer %s: %v", d, err)
		}
		bundle, err := rp.Blob(context.Background(), m.Layers[0], registry.MaxBundleBytes)
		if err != nil {
			t.Fatal(err)
		}
		attachReferrerAs(t, s.host, s.repo, victim, a.PredicateType, bundle)
	}
}

// attachReferrerAs pushes bundle bytes as a referrer of subject claiming predicateType.
func attachReferrerAs(t *testing.T, host, repo string, subject v1.Hash, predicateType string, bundle []byte) {
	t.Helper()
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: subject}
	if _, err := sign.Push(context.Background(), openRepo(t, host, repo), desc, predicateType, bundle, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}

// statementAbout is an in-toto statement naming every digest as a subject.
func (s *scene) statementAbout(predicateType string, predicate any, digests ...v1.Hash) []byte {
	s.t.Helper()
	r, err := name.NewRepository(s.host+"/"+s.repo, name.Insecure)
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := statement.AboutAll(r, digests, predicateType, predicate, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// signStatement signs a statement into a bundle with the trusted key k.
func (s *scene) signStatement(st []byte) []byte {
	s.t.Helper()
	k, err := keys.KeyFiles.LoadSigner(context.Background(), s.path(s.trusted()), keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := sign.Bundle(context.Background(), st, k, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// pushLegacyAtt pushes the DSSE envelope of bundle as cosign's legacy
// attestation tag sha256-<hex>.att of subject.
func (s *scene) pushLegacyAtt(subject v1.Hash, predicateType string, bundle []byte) {
	t := s.t
	t.Helper()
	var b struct {
		DSSE json.RawMessage `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil || len(b.DSSE) == 0 {
		t.Fatalf("bundle has no DSSE envelope: %v", err)
	}
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), mutate.Addendum{
		Layer:       static.NewLayer(b.DSSE, "application/vnd.dsse.envelope.v1+json"),
		Annotations: map[string]string{"predicateType": predicateType},
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(s.ref(subject.Algorithm+"-"+subject.Hex+".att"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// provenancePolicy requires SLSA provenance v1 by k with extra rule lines.
func (s *scene) provenancePolicy(extra string) string {
	s.t.Helper()
	s.trusted()
	return s.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: release
    scopes: ["`+s.host+`/**"]
    attestations:
      - type: `+bkProvenanceV1+`
        keys: [k]
`+extra)
}

// ciAttestProvenance runs `attest provenance --from-image` on repo:tag as a
// GitHub Actions job of repository at ref would.
func (s *scene) ciAttestProvenance(repository, ref, tag string) {
	s.t.Helper()
	gh := []string{"IMGSIGN_PASSWORD=" + passphrase, "GITHUB_ACTIONS=true", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=" + repository,
		"GITHUB_REPOSITORY_ID=1", "GITHUB_REPOSITORY_OWNER_ID=2", "GITHUB_WORKFLOW_REF=" + repository + "/.github/workflows/release.yml@" + ref,
		"GITHUB_REF=" + ref, "GITHUB_SHA=0123456789abcdef0123456789abcdef01234567", "GITHUB_EVENT_NAME=push",
		"GITHUB_RUN_ID=42", "GITHUB_RUN_ATTEMPT=1", "RUNNER_ENVIRONMENT=github-hosted"}
	if r := testenv.Run(s.t, s.dir, gh, s.bin, "attest", "provenance", "--key", "k.key", "--from-image", s.ref(tag)); r.Code != 0 {
		s.t.Fatalf("attest provenance: exit %d\n%s", r.Code, r.Stderr)
	}
}
