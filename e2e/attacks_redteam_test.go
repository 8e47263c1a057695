package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
)

// A red-team pass over the verification path: one signed statement read by
// two parsers, a tag given beside a digest, evidence in cosign's legacy
// layout mixed with bundles, subjects and annotations split across entries,
// times that are not times, scope spellings, and referrer listings that
// point at another image's evidence. Rows whose guards say
// "failed before" passed the attack until the fix named there.
func init() {
	addAttacks(
		// One statement, two readers. A legacy .att statement was read with
		// encoding/json (keys matched case-insensitively, the last of
		// duplicates kept) while bundles go through protojson (exact keys,
		// no duplicates). A statement with "predicate" and "Predicate" was
		// refused as a bundle but its legacy copy counted, with conditions
		// reading the first predicate and any struct-based check the second
		// (failed before the fix in verify/legacy.go).
		attack{
			name:   "signed statement with a case-variant Predicate key read through a legacy .att tag",
			guards: "a cosign legacy statement is read strictly, as a bundle's is: one signed statement never says one thing as a bundle and another as a legacy .att",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				evil := strings.Replace(buildKitV1Predicate(builderRelease, ""), `"externalParameters": {`,
					`"externalParameters": {"workflow": {"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.0.0", "path": ".github/workflows/release.yml"}, `, 1)
				st := fmt.Sprintf(`{"_type":%q,"subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s,"Predicate":%s}`,
					provenance.StatementTypeV1, s.host+"/"+s.repo, d.Hex, bkProvenanceV1, evil, buildKitV1Predicate(builderRelease, ""))
				b := s.signStatement([]byte(st))
				attachReferrerAs(t, s.host, s.repo, d, bkProvenanceV1, b)
				s.pushLegacyAtt(d, bkProvenanceV1, b)
				return []string{"verify", "--policy", s.provenancePolicy("        sourceRepository: github.com/acme/app\n        sourceRef: refs/tags/v*\n"), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "cosign legacy attestation", `unknown field "Predicate"`},
			notWant:  []string{"PASS"},
		},

		// A tag beside a digest. repo:tag@sha256:… runs the digest, and the
		// deploy names the tag: under bindTag the tag was dropped and a
		// digest signed for dev passed as prod (failed before the fix in
		// verify/verify.go).
		attack{
			name:   "tag and digest given together under bindTag",
			guards: "repo:tag@digest under bindTag counts only signatures binding that tag to that digest",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("dev")
				s.must("sign", "--key", s.trusted(), s.ref("dev"))
				return []string{"verify", "--policy", s.tagPolicy(""), s.host + "/" + s.repo + ":prod@" + d.String()}
			},
			wantCode: 1,
			want:     []string{"FAIL", "signed for tag dev, not prod"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "tag and digest given together, the digest signed for that tag",
			guards: "repo:tag@digest passes bindTag when the digest is signed for the tag, without resolving the tag (the control for the row above)",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("prod")
				s.must("sign", "--key", s.trusted(), s.ref("prod"))
				s.image("prod") // the tag moved on: the digest given is what is verified
				return []string{"verify", "--policy", s.tagPolicy(""), "--output", "json", s.host + "/" + s.repo + ":prod@" + d.String()}
			},
			wantCode: 0,
			want:     []string{`"verdict": "pass"`, `"tag": "prod"`},
		},

		// A tag binding names its repository (the statement's subject
		// name) as DCT's did (the GUN): copying a digest and its signature
		// into another repository and tagging it there passed bindTag
		// (failed before the fix in verify/verify.go).
		attack{
			name:   "tag-bound signature copied with its image into another repository",
			guards: "bindTag counts a signature for repo:tag only when it binds that tag in that repository",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("stable")
				s.must("sign", "--key", s.trusted(), s.ref("stable"))
				other := s.repo + "-prod"
				copyImage(t, s.host, s.repo, other, d, "stable")
				attachAs(t, s.host, other, d, statement.Signature, bundleBytes(t, s.host, s.repo, d))
				return []string{"verify", "--policy", s.tagPolicy(""), s.host + "/" + other + ":stable"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "signed for", "/attack/tag-bound"},
			notWant:  []string{"PASS"},
		},

		// Cosign's legacy layout beside bundles.
		attack{
			name:   "one key's legacy .sig and its bundle for threshold 2",
			guards: "a threshold counts distinct keys across formats: one key's cosign legacy signature and its bundle are one key",
			run: func(t *testing.T, s *scene) []string {
				cosign := testenv.Tool(t, "cosign")
				s.image("v1")
				pol := twoKeyPolicy(s)
				cosignLegacy(t, s.env, cosign, "sign", s.ref("v1"))
				s.must("sign", "--key", "k.key", s.ref("v1"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "only 1 of 2", "key k already counted"},
		},

		// Subjects, annotations and the index.
		attack{
			name:   "tag annotation on one subject entry and the digest on another",
			guards: "every subject of a counted statement names the image by digest: a tag binding on an entry without a digest binds nothing",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("prod")
				pol := s.tagPolicy("")
				st := statementJSON(t, s, []map[string]any{subjectOf(s, d), {"name": s.host + "/" + s.repo,
					"annotations": map[string]string{statement.TagAnnotation: "prod", statement.SignedAtAnnotation: time.Now().UTC().Format(time.RFC3339)}}}, statement.Signature)
				attachRaw(t, s.host, s.repo, d, signStatement(t, s.path("k.key"), st, ""))
				return []string{"verify", "--policy", pol, s.ref("prod")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "subject without a digest"},
		},
		attack{
			name:   "the index's signature counted for its platform manifest",
			guards: "a signature counts only for the manifest it names: signing an index vouches for no platform manifest verified by digest",
			run: func(t *testing.T, s *scene) []string {
				_, platform := s.buildKitIndex("multi", func(v1.Hash) []bkStatement { return nil })
				s.must("sign", "--key", s.trusted(), s.ref("multi"))
				return []string{"verify", "--policy", s.signaturePolicy(""), s.at(platform)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
		},
		attack{
			name:   "tag schema index of the victim listing another image's referrer",
			guards: "a referrer listed for an image counts only if its signed statement names that image, whatever the listing or the referrer's subject says",
			run: func(t *testing.T, s *scene) []string {
				signed := s.image("signed")
				victim := s.image("victim")
				s.must("sign", "--no-tag-binding", "--key", s.trusted(), s.ref("signed"))
				s.listReferrersOf(victim, signed)
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},

		// Compliance read USER as a string: "0" and "root" were root, but
		// runc reads a numeric USER with strconv.Atoi, so "00", "+0" and
		// "-0" run as uid 0 too and passed nonRootUser (failed before the
		// fix in verify/compliance/compliance.go).
		attack{
			name:   "USER 00 passes nonRootUser and runs as root",
			guards: "nonRootUser reads a numeric USER as the runtime does: any spelling of uid 0 is root",
			run: func(t *testing.T, s *scene) []string {
				pushIndexOf(t, s, "v1", indexChild{user: "00:1000", platform: &v1.Platform{OS: "linux", Architecture: "amd64"}})
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				return []string{"verify", "--policy", s.signaturePolicy("    compliance:\n      nonRootUser: true\n"), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "✗ compliance nonRootUser", "(root)"},
			notWant:  []string{"PASS"},
		},

		// Runnable children judged by the index's word: Docker's classic
		// image store picks a child by platform and runs whatever manifest
		// the registry serves for it, whatever media type the index lists;
		// compliance skipped an entry listed as an unknown type (failed
		// before the fix in internal/registry/children.go).
		attack{
			name:   "root child listed under an unknown media type",
			guards: "an index entry a runtime could select is judged by the manifest the registry serves, not by the media type the index claims",
			run: func(t *testing.T, s *scene) []string {
				root := pushChild(t, s, "root", "0")
				ok := pushChild(t, s, "ok", "65532")
				root.MediaType = "application/vnd.example.not-an-image"
				s.pushIndexRaw("v1", root, ok)
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				return []string{"verify", "--policy", s.signaturePolicy("    compliance:\n      nonRootUser: true\n"), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "✗ compliance nonRootUser", "(root)"},
			notWant:  []string{"PASS"},
		},

		// Tag rollback on registries without the referrers API: a push is
		// enough to overwrite the newer digest's referrers tag index and its
		// per-referrer tags sha256-<hex>.ref-<referrer prefix>, hiding the
		// newer binding (failed before the fix in internal/attachment).
		attack{
			name:   "tag rolled back with the newer digest's referrer tags overwritten",
			guards: "a per-referrer tag must point at the referrer its name names: overwriting it to hide a newer tag binding is refused, not read as no signature",
			run: func(t *testing.T, s *scene) []string {
				_, d2 := s.signTwice("stable")
				retag(t, s.host, s.repo, "v1", "stable")
				s.hideReferrers(d2)
				return []string{"verify", "--policy", s.tagPolicy(""), s.ref("stable")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},

		// Times that are not times.
		attack{
			name:   "predicate time written as a number under maxAge",
			guards: "maxAge reads only an RFC 3339 string: a number (seconds, or a year 2099 in disguise) is refused, not taken as fresh",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.attestSLSA(d, map[string]any{"finishedOn": 4.1e9}, "")
				return []string{"verify", "--policy", s.maxAgePolicy("", "7d"), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "is not an RFC 3339 time"},
		},

		// Scope spellings and references.
		attack{
			name:    "Docker Hub docker.io/* audit scope beside a docker.io/library/** enforce scope",
			guards:  "docker.io/* means official images (docker.io/library/*): overlapping an enforce scope just as specifically is a policy error, not a silent audit",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"policy", "check", s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n"+
					"  - name: official\n    scopes: [\"docker.io/library/**\"]\n    signatures: {keys: [k]}\n"+
					"  - name: lax\n    mode: audit\n    scopes: [\"docker.io/*\"]\n    signatures: {keys: [k]}\n")}
			},
			wantCode: 2,
			want:     []string{"docker.io/*", "docker.io/library/**"},
		},
		// Scope precedence counted wildcards: "**" (one wildcard) outranked
		// "*.corp.example/**" (two), so a catch-all audit rule governed
		// every image of an enforce rule with a wildcard host — ECR's
		// *.dkr.ecr.*.amazonaws.com/** — and unsigned images passed with
		// exit 0 (failed before the fix in verify/policy/scope.go).
		attack{
			name:   "catch-all audit scope beside an enforce scope with a wildcard host",
			guards: "a scope that matches every repository another matching scope matches, and more, never beats it: ** never governs what *.corp.example/** claims",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				_, port, _ := strings.Cut(s.host, ":")
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", "*:" + port + "/**"},
					scopeRule{"lax", "audit", "**"})
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: prod (enforce)"},
			notWant:  []string{"audit mode"},
		},
		// Conditions saw image.repository as typed while scopes match the
		// canonical spelling: a condition exempting everything outside a
		// prefix was met by spelling the same registry differently (failed
		// before the fix in verify/verify.go).
		attack{
			name:   "another spelling of the registry escapes a condition on image.repository",
			guards: "conditions read image.repository in the one canonical spelling scopes are matched in",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.attestSLSA(d, nil, "") // builder https://ci.example/builder
				_, port, _ := strings.Cut(s.host, ":")
				pol := provenancePolicy(s, `!image.repository.startsWith("localhost:`+port+`/attack/") || predicate.runDetails.builder.id == "https://ci.example/release"`)
				return []string{"verify", "--policy", pol, s.ref("v1")} // 127.0.0.1:port, which is localhost:port
			},
			wantCode: 1,
			want:     []string{"FAIL", "condition"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "IPv4-mapped IPv6 spelling of the registry escapes its enforce scope",
			guards: "[::ffff:127.0.0.1] is 127.0.0.1 is localhost: one host for scope matching, so a laxer catch-all does not govern it",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				_, port, _ := strings.Cut(s.host, ":")
				pol := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n"+
					"  - name: enforce\n    scopes: [\""+s.host+"/**\"]\n    signatures: {keys: [k]}\n"+
					"  - name: lax\n    mode: audit\n    scopes: [\"**\"]\n    signatures: {keys: [k]}\n")
				return []string{"verify", "--policy", pol, "--output", "json", "[::ffff:127.0.0.1]:" + port + "/" + s.repo + ":v1"}
			},
			wantCode: 1,
			want:     []string{`"policy": "enforce"`},
			notWant:  []string{`"policy": "lax"`},
		},
	)
}

// listReferrersOf makes victim's referrers tag schema index (sha256-<hex>)
// list every referrer of signed, as an attacker who can push tags would:
// the referrer manifests' subject stays signed. On registries with the
// referrers API the tag is one more tag.
func (s *scene) listReferrersOf(victim, signed v1.Hash) {
	t := s.t
	t.Helper()
	ctx := context.Background()
	rp := openRepo(t, s.host, s.repo)
	l, err := attachment.Discover(ctx, rp, v1.Descriptor{Digest: signed}, attachment.Options{})
	if err != nil || len(l.Entries) == 0 {
		t.Fatalf("referrers of %s: %v (%d)", signed, err, len(l.Entries))
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, e := range l.Entries {
		idx.Manifests = append(idx.Manifests, e.Descriptor)
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.PutManifest(ctx, victim.Algorithm+"-"+victim.Hex, raw, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
}

// hideReferrers overwrites, as a push can, d's referrers tag index with an
// empty one and each of its per-referrer tags with another image.
func (s *scene) hideReferrers(d v1.Hash) {
	t := s.t
	t.Helper()
	ctx := context.Background()
	rp := openRepo(t, s.host, s.repo)
	empty, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.PutManifest(ctx, d.Algorithm+"-"+d.Hex, empty, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
	tags, err := rp.TagsWithPrefix(ctx, d.Algorithm+"-"+d.Hex+".ref-")
	if err != nil || len(tags) == 0 {
		t.Fatalf("per-referrer tags of %s: %v %v", d, tags, err)
	}
	junk := s.image("junk")
	raw, mt, err := rp.Manifest(ctx, "", junk)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := rp.PutManifest(ctx, tag, raw, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// copyImage copies the image d of host/from into host/to as tag, digest kept.
func copyImage(t *testing.T, host, from, to string, d v1.Hash, tag string) {
	t.Helper()
	src, err := name.NewDigest(digestRef(host, from, d), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(host+"/"+to+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
}

// bundleBytes is the one bundle attached to d in host/repo.
func bundleBytes(t *testing.T, host, repo string, d v1.Hash) []byte {
	t.Helper()
	b, err := json.Marshal(bundleOf(t, host, repo, d))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushChild pushes a linux/amd64 image running as user under tag and
// returns its descriptor as an index lists it.
func pushChild(t *testing.T, s *scene, tag, user string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Config.User = "linux", "amd64", user
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(s.ref(tag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	d.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	return *d
}

// pushIndexRaw pushes an OCI index listing children exactly as given.
func (s *scene) pushIndexRaw(tag string, children ...v1.Descriptor) {
	t := s.t
	t.Helper()
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: children})
	if err != nil {
		t.Fatal(err)
	}
	if err := openRepo(t, s.host, s.repo).PutManifest(context.Background(), tag, raw, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
}
