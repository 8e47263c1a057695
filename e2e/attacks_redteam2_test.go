package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/provenance"
)

// A second adversarial pass: arguments a careless operator runs, build
// outputs that read differently to different JSON parsers, a registry that
// points its pagination somewhere else, and policy text that reaches the
// terminal. Rows that failed before their fix say so in guards.
func init() {
	addAttacks(
		// Arguments. A flag's value that happens to spell a help flag was
		// taken for a request for help: verify printed its help and exited
		// 0 without verifying anything (failed before the fix in args.go).
		attack{
			name:   "policy file named -h makes verify print help and exit 0",
			guards: "a flag's value is never read as a flag: --policy -h reads the file -h and verifies, it does not print help with exit 0",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				pol := s.signaturePolicy("")
				b, err := os.ReadFile(pol)
				if err != nil {
					t.Fatal(err)
				}
				s.write("-h", string(b))
				return []string{"verify", "--policy", "-h", s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"USAGE:", "PASS"},
		},
		attack{
			name:   "output format given as --help skips verification",
			guards: "a value spelling a help flag (--output --help) is the flag's value, refused as such (exit 2), never help with exit 0",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				return []string{"verify", "--policy", s.signaturePolicy(""), "--output", "--help", s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"--output must be text or json"},
			notWant:  []string{"USAGE:"},
		},
		attack{
			name:   "policy file named help after the image",
			guards: "a value after the image spelling a help topic (--policy help) is still the flag's value: the file help is read",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				b, err := os.ReadFile(s.signaturePolicy(""))
				if err != nil {
					t.Fatal(err)
				}
				s.write("help", string(b))
				return []string{"verify", s.ref("v1"), "--policy", "help"}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"USAGE:", "PASS"},
		},
		attack{
			name:    "mistyped flag carrying a private key in its =value",
			guards:  "an unknown --flag=value is named without its value: a key pasted there is never echoed",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"sign", "--kye=" + privateKeyBody(t, s), "registry.example.com/app:1"}
			},
			wantCode: 2,
			want:     []string{"--kye", "did you mean --key"},
			notWant:  []string{"MIG", "MHc", "PRIVATE"},
		},
		// A private key pasted where a file or an image belongs came back
		// in the error: "cannot read trust policy MIGHAgEA…", "parsing image
		// reference …" (failed before cmd/imgsign/secretargs.go).
		attack{
			name:    "private key pasted as an extra argument to policy check",
			guards:  "key material given as any argument is refused without being repeated, not echoed as a file name",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				ok := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures: {keys: [k]}\n")
				return []string{"policy", "check", ok, privateKeyBody(t, s)}
			},
			wantCode: 2,
			want:     []string{"argument 2 is a base64 PRIVATE key", "not shown"},
			notWant:  []string{"MIG", "MC4"},
		},
		attack{
			name:    "private key given as --policy",
			guards:  "key material given as a flag's value (other than --key) is refused without being repeated",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"verify", "--policy", privateKeyBody(t, s), "registry.example.com/app:1"}
			},
			wantCode: 2,
			want:     []string{"--policy is a base64 PRIVATE key", "not shown"},
			notWant:  []string{"MIG", "MC4"},
		},
		attack{
			name:   "annotation value that looks like a flag",
			guards: "-a takes the next argument as its value even when it starts with '-': it is neither a flag nor an image",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.write("empty.json", `{}`)
				return []string{"attest", "predicate", "--key", s.trusted(), "--type", "https://example.com/t/v1", "--predicate", "empty.json",
					s.ref("v1"), "-a", "--no-tag-binding=1", "--output", "json"}
			},
			wantCode: 0,
			want:     []string{`"referrer"`},
		},

		// Build outputs read by another JSON parser. Go's encoding/json
		// matches keys case-insensitively and keeps the last; a verifier in
		// another language (or protojson) reads "subject" exactly. A
		// statement with "subject" naming a victim and "SUBJECT" naming the
		// build's own image was signed by attest buildkit (failed before the
		// fix in attest/provenance/index.go). Duplicate keys, "Digest",
		// "Predicate" and the like are rows of TestSignableRefusesAmbiguousStatements.
		attack{
			name:   "BuildKit statement with a second SUBJECT key naming the build",
			guards: "attest buildkit signs a statement only if it parses strictly as in-toto (exact keys, no duplicates): every verifier reads the subject imgsign checked",
			run: func(t *testing.T, s *scene) []string {
				victim := s.image("victim")
				s.buildKitIndexRaw("build", func(p v1.Hash) []rawStatement {
					return []rawStatement{{"https://spdx.dev/Document", fmt.Sprintf(
						`{"_type":%q,"predicateType":"https://spdx.dev/Document","subject":[{"name":"victim","digest":{"sha256":%q}}],"predicate":%s,"SUBJECT":[{"name":"build","digest":{"sha256":%q}}]}`,
						provenance.StatementTypeV1, victim.Hex, spdxPredicate, p.Hex)}}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"refusing to sign", "SUBJECT"},
			notWant:  []string{"signed BuildKit"},
		},
		// Found by FuzzSignableStatement: a subject without a digest made
		// the error message's subject list panic (failed before the fix in
		// attest/provenance/index.go).
		attack{
			name:   "BuildKit statement with a subject without digest",
			guards: "a statement the build wrote is refused with exit 2 and a reason, never a Go panic, however its subjects are shaped",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndexRaw("build", func(p v1.Hash) []rawStatement {
					return []rawStatement{{"https://spdx.dev/Document", fmt.Sprintf(
						`{"_type":%q,"predicateType":"https://spdx.dev/Document","subject":[{"name":"x"}],"predicate":%s}`,
						provenance.StatementTypeV1, spdxPredicate)}}
				})
				s.trusted()
				return []string{"attest", "buildkit", "--key", "k.key", s.ref("build")}
			},
			wantCode: 2,
			want:     []string{"a subject without digest"},
			notWant:  []string{"panic", "goroutine"},
		},

		// The merge path (attest provenance --from-image, --buildkit-metadata)
		// checked BuildKit's predicate with exact keys but merged what
		// encoding/json decoded case-insensitively: "ExternalParameters"
		// beside "externalParameters" carried a CI workflow into the signed
		// provenance of a build outside CI (failed before the fix in
		// attest/provenance/generate.go).
		attack{
			name:   "BuildKit provenance smuggling the CI workflow under ExternalParameters",
			guards: "what attest provenance merges from BuildKit is checked as merged: no CI source field reaches the signed provenance through a key spelled in another case",
			run: func(t *testing.T, s *scene) []string {
				s.buildKitIndexRaw("build", func(p v1.Hash) []rawStatement {
					pred := strings.Replace(buildKitV1Predicate(builderRelease, ""), `"internalParameters":`,
						`"ExternalParameters": {"workflow": {"repository": "https://github.com/acme/app", "ref": "refs/tags/v1.0.0", "path": ".github/workflows/release.yml"}}, "internalParameters":`, 1)
					return []rawStatement{{bkProvenanceV1, fmt.Sprintf(
						`{"_type":%q,"subject":[{"name":"build","digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`,
						provenance.StatementTypeV1, p.Hex, bkProvenanceV1, pred)}}
				})
				s.trusted()
				r := s.run("attest", "provenance", "--key", "k.key", "--from-image", "--builder-id", "https://ci.example/job", s.ref("build"))
				if r.Code != 2 {
					t.Errorf("attest provenance --from-image: exit %d, want 2 refusing the smuggled workflow\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
				return []string{"verify", "--policy", s.provenancePolicy("        sourceRepository: github.com/acme/app\n"), s.ref("build")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},

		// A hostile registry's pagination. A Link header may name any URL;
		// following one to another host turns imgsign into a client of the
		// registry's choosing inside the CI network (and an error body
		// from there would land in the log). Failed before the fix in
		// internal/registry/read.go.
		attack{
			name:   "referrers listing links its next page to another host",
			guards: "pagination stays on the registry that was asked: a next link to another host or scheme is exit 3, and that host is never contacted",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				var hits atomic.Int32
				internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					http.Error(w, "INTERNAL-ONLY metadata token=s3cr3t", http.StatusInternalServerError)
				}))
				t.Cleanup(func() {
					internal.Close()
					if n := hits.Load(); n != 0 {
						t.Errorf("imgsign sent %d requests to the host the hostile Link named", n)
					}
				})
				elsewhere := internal.URL + "/v2/" + s.repo
				host := hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
					switch {
					case s.kind == "referrers-api" && strings.Contains(r.URL.Path, "/referrers/"):
						w.Header().Set("Link", `<`+elsewhere+`/referrers/`+d.String()+`?page=1>; rel="next"`)
						serveIndex(t, w, nil)
						return true
					case s.kind != "referrers-api" && strings.HasSuffix(r.URL.Path, "/tags/list"):
						w.Header().Set("Link", `<`+elsewhere+`/tags/list?page=1>; rel="next"`)
						w.Header().Set("Content-Type", "application/json")
						_ = json.NewEncoder(w).Encode(map[string]any{"name": s.repo, "tags": []string{"a"}})
						return true
					}
					return false
				})
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"pagination link", "another host"},
			notWant:  []string{"PASS", "INTERNAL-ONLY", "s3cr3t"},
		},

		// A hostile Notary server: dct import had no deadline at all, and a
		// server that completes TLS and never answers held it forever
		// (failed before the fix in dct/load.go).
		attack{
			name:    "Notary server that never answers",
			guards:  "dct import gives up on a Notary server that does not answer, with exit 3, instead of hanging the migration job",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-r.Context().Done()
				}))
				srv.StartTLS()
				t.Cleanup(srv.Close)
				ca := s.write("notary-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
				within(t, 100*time.Second)
				return []string{"dct", "import", "--dry-run", "--insecure-trust-on-first-use", "--server", srv.URL, "--server-ca", ca,
					"--trust-dir", t.TempDir(), "registry.example.com/app"}
			},
			wantCode: 3,
			want:     []string{"Notary server", "did not answer"},
		},

		// Paths that never end. A policy under review names files too; a
		// TSA certChain of /dev/zero grew policy check past 2 GB in
		// seconds, as did --key, keys import --in and --server-ca (failed
		// before internal/boundedfile).
		attack{
			name:    "policy TSA certChain that never ends",
			guards:  "files a policy names are read only if regular and bounded: policy check refuses /dev/zero (exit 2) instead of exhausting memory",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				within(t, 20*time.Second)
				return []string{"policy", "check", s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+
					"timestampAuthorities:\n  - name: t\n    certChain: /dev/zero\n"+
					"policies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures: {keys: [k]}\n")}
			},
			wantCode: 2,
			want:     []string{"not a regular file"},
		},
		attack{
			name:    "signing key path that never ends",
			guards:  "a key file is read only if regular and bounded: --key /dev/zero is exit 2, not an out-of-memory kill",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				within(t, 20*time.Second)
				return []string{"keys", "id", "--key", "/dev/zero"}
			},
			wantCode: 2,
			want:     []string{"not a regular file"},
		},

		// Policy text on the terminal: policy check is what a reviewer runs
		// on a policy change someone else proposed.
		attack{
			name:    "policy check warning with a bidi override in a predicate type",
			guards:  "policy check escapes the policy's own strings in its warnings: a proposed policy cannot reorder what the reviewer reads (failed before: the maxAge warning printed U+202E raw)",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"policy", "check", s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+
					"policies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    attestations:\n      - type: \"https://example.com/custom/v1\\u202e\\u2066lla\"\n        keys: [k]\n        maxAge: 24h\n")}
			},
			wantCode: 0,
			want:     []string{"warning", `\u202e`},
			notWant:  []string{"\u202e", "\u2066"},
		},
	)
}

// rawStatement is one in-toto statement the build writes into the index,
// byte for byte.
type rawStatement struct {
	predicateType string
	raw           string
}

// buildKitIndexRaw is buildKitIndex with statements written as raw bytes, so
// a row can write JSON that encoding/json would never produce.
func (s *scene) buildKitIndexRaw(tag string, stmts func(platform v1.Hash) []rawStatement) {
	t := s.t
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("layer of "+s.repo+":"+tag), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	platform, _ := img.Digest()
	att := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, st := range stmts(platform) {
		if att, err = mutate.Append(att, mutate.Addendum{
			Layer:       static.NewLayer([]byte(st.raw), types.MediaType(provenance.MediaTypeInToto)),
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
}
