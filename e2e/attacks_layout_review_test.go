package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify"
)

// Security review of OCI layouts and imgsign copy: an attacker who can write
// a layout directory (a USB stick, a shared volume) — the one verified, or
// the one a copy writes to — but holds no trusted key. Every row's name
// starts with "layout review" (go test ./e2e -run 'TestAttacks/.*/layout_review').
func init() {
	addAttacks(
		attack{
			name:   "layout review: one tag on two manifests in index.json",
			guards: "a tag index.json gives to two manifests names neither: the unsigned one listed first does not win",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				s.must("copy", s.unsignedRef("evil"), "oci:"+dir)
				idx := readLayoutIndex(t, dir)
				var evil v1.Descriptor
				var rest []v1.Descriptor
				for _, m := range idx.Manifests {
					if m.Annotations["org.opencontainers.image.ref.name"] == "evil" {
						evil = m
						continue
					}
					rest = append(rest, m)
				}
				evil.Annotations = map[string]string{"org.opencontainers.image.ref.name": "v1"}
				idx.Manifests = append([]v1.Descriptor{evil}, rest...)
				writeLayoutIndex(t, dir, idx)
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"tag v1 names two manifests in index.json"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: index.json listing its manifests twice, under manifests and Manifests",
			guards: "an index.json key repeated or in another case is refused: imgsign never verifies the signed image under a tag while a stricter reader of the layout runs the unsigned one",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				s.must("copy", s.unsignedRef("evil"), "oci:"+dir)
				var evil, rest []v1.Descriptor
				for _, m := range readLayoutIndex(t, dir).Manifests {
					if m.Annotations["org.opencontainers.image.ref.name"] == "evil" {
						m.Annotations = map[string]string{"org.opencontainers.image.ref.name": "v1"}
						evil = append(evil, m)
						continue
					}
					rest = append(rest, m)
				}
				first, err := json.Marshal(evil)
				if err != nil {
					t.Fatal(err)
				}
				last, err := json.Marshal(rest)
				if err != nil {
					t.Fatal(err)
				}
				// encoding/json keeps the last (the signed image); a reader
				// matching keys exactly, or keeping the first, the unsigned.
				raw := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":` + string(first) + `,"Manifests":` + string(last) + `}`
				if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(raw), 0o644); err != nil {
					t.Fatal(err)
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"appears twice in one object"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: index.json naming the signed image by an upper-case digest beside the unsigned one",
			guards: "index.json names manifests by sha256 digests of lower-case hex only: another spelling is refused, never read as another (or the same) file",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
				if err != nil {
					t.Fatal(err)
				}
				d := s.layoutTag(dir, "v1")
				raw = []byte(strings.Replace(string(raw), d.Hex, strings.ToUpper(d.Hex), 1))
				if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
					t.Fatal(err)
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"index.json", "not an OCI image index"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: a manifest in the layout naming its subject by an upper-case digest",
			guards: "a manifest index.json lists that cannot be read is an error, never skipped: the referrer it might be could decide the verdict",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("AB", 32) + `","size":2}}`)
				d := putLayoutBlob(t, dir, raw)
				idx := readLayoutIndex(t, dir)
				idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d, Size: int64(len(raw))})
				writeLayoutIndex(t, dir, idx)
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"is not JSON"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: index.json swapped for a symlink to a forged index",
			guards: "index.json is read only as a regular file of the layout, never through a symlink",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				p := filepath.Join(dir, "index.json")
				raw, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				outside := s.path("forged-index.json")
				if err := os.WriteFile(outside, raw, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"index.json is a symbolic link"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: oci-layout marker swapped for a symlink",
			guards: "the oci-layout marker, like every file of a layout, is never read through a symlink",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				p := filepath.Join(dir, "oci-layout")
				if err := os.Rename(p, filepath.Join(dir, "marker")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("marker", p); err != nil {
					t.Fatal(err)
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"oci-layout is a symbolic link"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: image manifest blob replaced by a directory",
			guards: "a blob path that is not a regular file is refused with a reason, not read or followed",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				d := s.layoutTag(dir, "v1")
				p := filepath.Join(dir, "blobs", "sha256", d.Hex)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"is not a regular file"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: index.json replaced by a FIFO nobody writes to",
			guards: "a layout file that is a FIFO is refused at once: verify neither hangs nor reads it",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				p := filepath.Join(dir, "index.json")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Skip("mkfifo:", err)
				}
				// testenv.Run's own deadline fails the row if verify hangs.
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"index.json is not a regular file"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: index.json listing more manifests than imgsign reads",
			guards: "past the index.json entry limit verify stops with exit 3, never judging on the entries it read",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				idx := readLayoutIndex(t, dir)
				first := idx.Manifests[0]
				for len(idx.Manifests) <= 10000 {
					e := first
					e.Annotations = nil
					idx.Manifests = append(idx.Manifests, e)
				}
				writeLayoutIndex(t, dir, idx)
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 3,
			want:     []string{"more than 10000 manifests", "limit"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: another image's signature re-parented onto the victim in the layout",
			guards: "a referrer manifest in a layout is unsigned: one whose subject was edited to the victim still carries a statement about the other image, and counts for nothing",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("signed")
				s.must("copy", s.unsignedRef("victim"), "oci:"+dir)
				victim := s.layoutTag(dir, "victim")
				ref := s.layoutReferrer(dir, "signed")
				var m map[string]any
				if err := json.Unmarshal(readBlob(t, dir, ref), &m); err != nil {
					t.Fatal(err)
				}
				m["subject"] = map[string]any{"mediaType": string(types.OCIManifestSchema1), "digest": victim.String(), "size": len(readBlob(t, dir, victim))}
				raw, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				d := putLayoutBlob(t, dir, raw)
				idx := readLayoutIndex(t, dir)
				idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d, Size: int64(len(raw))})
				writeLayoutIndex(t, dir, idx)
				return []string{"verify", "--policy", pol, "oci:" + dir + ":victim"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "about another image"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: referrers tag schema index in the layout listing another image's signature",
			guards: "a layout's referrers are the manifests whose own subject is the image: a sha256-<hex> index naming another image's referrer adds nothing",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("signed")
				s.must("copy", s.unsignedRef("victim"), "oci:"+dir)
				victim := s.layoutTag(dir, "victim")
				ref := s.layoutReferrer(dir, "signed")
				var rm attachment.Manifest
				rraw := readBlob(t, dir, ref)
				if err := json.Unmarshal(rraw, &rm); err != nil {
					t.Fatal(err)
				}
				index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
					MediaType: types.OCIManifestSchema1, Digest: ref, Size: int64(len(rraw)), ArtifactType: rm.ArtifactType, Annotations: rm.Annotations,
				}}}
				raw, err := json.Marshal(index)
				if err != nil {
					t.Fatal(err)
				}
				d := putLayoutBlob(t, dir, raw)
				idx := readLayoutIndex(t, dir)
				idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: int64(len(raw)),
					Annotations: map[string]string{"org.opencontainers.image.ref.name": "sha256-" + victim.Hex}})
				writeLayoutIndex(t, dir, idx)
				return []string{"verify", "--policy", pol, "oci:" + dir + ":victim"}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: cosign legacy .sig tag in the layout pointing at another image's signature",
			guards: "a cosign sha256-<hex>.sig tag in a layout counts only for the digest its signed payload names",
			run: func(t *testing.T, s *scene) []string {
				cosign := testenv.Tool(t, "cosign")
				s.image("signed")
				s.trusted()
				cosignLegacy(t, s.env, cosign, "sign", s.ref("signed"))
				dir := s.path("layout")
				s.must("copy", s.ref("signed"), "oci:"+dir)
				s.must("copy", s.unsignedRef("victim"), "oci:"+dir)
				signed, victim := s.layoutTag(dir, "signed"), s.layoutTag(dir, "victim")
				idx := readLayoutIndex(t, dir)
				found := false
				for _, m := range idx.Manifests {
					if m.Annotations["org.opencontainers.image.ref.name"] == attachment.LegacyTag(signed, "sig") {
						m.Annotations = map[string]string{"org.opencontainers.image.ref.name": attachment.LegacyTag(victim, "sig")}
						idx.Manifests = append(idx.Manifests, m)
						found = true
						break
					}
				}
				if !found {
					t.Fatalf("copy did not carry the cosign .sig tag into the layout: %+v", idx.Manifests)
				}
				writeLayoutIndex(t, dir, idx)
				pol := scopePolicy(s, scopeRule{"layouts", "enforce", "oci:" + dir})
				return []string{"verify", "--policy", pol, "oci:" + dir + ":victim"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "(signature copied from another image?)"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: --as names the signed repository for a layout holding another image under its tag",
			guards: "--as only says which rules judge the layout: the digest its tag names must itself be signed",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				dir := s.path("layout")
				// The signed image and its signature come along, the tag is
				// moved to an unsigned image.
				s.must("copy", s.ref("v1"), "oci:"+dir+":orig")
				s.must("copy", s.unsignedRef("evil"), "oci:"+dir+":v1")
				return []string{"verify", "--policy", s.signaturePolicy(""), "--as", s.host + "/" + s.repo, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout review: copy into a layout whose blobs directory links out of it",
			guards: "imgsign copy never writes outside the destination layout: a blobs/sha256 linking elsewhere is refused, and nothing lands there",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				dir := s.path("dest")
				outside := s.path("outside")
				for _, p := range []string{filepath.Join(dir, "blobs"), outside} {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(outside, filepath.Join(dir, "blobs", "sha256")); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if ents, _ := os.ReadDir(outside); len(ents) != 0 {
						t.Errorf("copy wrote %d files outside the destination layout", len(ents))
					}
				})
				return []string{"copy", s.ref("v1"), "oci:" + dir}
			},
			wantCode: 3,
			want:     []string{"escapes from parent"},
		},
		attack{
			name:   "layout review: copy into a layout whose index.json links to a file outside it",
			guards: "imgsign copy neither reads nor replaces a destination index.json that is a symlink; the file it points at is left as it was",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				dir := s.path("dest")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				outside := s.write("victim.json", `{"schemaVersion":2,"manifests":[]}`)
				if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, filepath.Join(dir, "index.json")); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if b, _ := os.ReadFile(outside); string(b) != `{"schemaVersion":2,"manifests":[]}` {
						t.Errorf("copy changed the file the destination's index.json links to: %s", b)
					}
				})
				return []string{"copy", s.ref("v1"), "oci:" + dir}
			},
			wantCode: 3,
			want:     []string{"index.json is a symbolic link"},
		},
		attack{
			name:   "layout review: copy from a registry that serves a signature manifest under another's digest",
			guards: "a copy writes a manifest only when its bytes hash to the digest it was listed by: a source answering with other bytes stops the copy, and no tag points at the image without its signature",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				ref := s.registryReferrer("v1")
				host := hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/manifests/"+ref.String()) {
						return false
					}
					raw, mt, err := openRepo(t, s.host, s.repo).Manifest(r.Context(), "", ref)
					if err != nil {
						t.Error(err)
						return false
					}
					// Same subject, other bytes: a forged annotation.
					raw = []byte(strings.Replace(string(raw), `"annotations":{`, `"annotations":{"forged":"yes",`, 1))
					w.Header().Set("Content-Type", string(mt))
					w.Header().Set("Docker-Content-Digest", ref.String())
					_, _ = w.Write(raw)
					return true
				})
				dir := s.path("dest")
				t.Cleanup(func() {
					if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
						return
					}
					for _, m := range readLayoutIndex(t, dir).Manifests {
						if m.Annotations["org.opencontainers.image.ref.name"] == "v1" {
							t.Errorf("the destination tag v1 was written though the image's signature was not copied")
						}
					}
				})
				return []string{"copy", host + "/" + s.repo + ":v1", "oci:" + dir}
			},
			wantCode: 3,
			want:     []string{"content digest mismatch"},
			notWant:  []string{"forged"},
		},
		attack{
			name:   "layout review: copy from a registry whose referrers listing lies about a signature's size and type",
			guards: "what a copy writes for a referrer comes from its manifest, checked against its digest, never from the source's listing (size, artifactType, escapes)",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				ref := s.registryReferrer("v1")
				raw, _, err := openRepo(t, s.host, s.repo).Manifest(context.Background(), "", ref)
				if err != nil {
					t.Fatal(err)
				}
				host := hostileListing(t, s, d, func(int) ([]v1.Descriptor, bool) {
					return []v1.Descriptor{{MediaType: types.OCIManifestSchema1, Digest: ref, Size: 3,
						ArtifactType: "application/x-evil\x1b[2J", Annotations: map[string]string{"dev.sigstore.bundle.predicateType": "evil\x1b]0;pwned\x07"}}}, false
				})
				dir := s.path("dest")
				r := s.must("copy", host+"/"+s.repo+":v1", "oci:"+dir)
				if strings.ContainsRune(r.Stdout+r.Stderr, 0x1b) {
					t.Errorf("copy printed a raw escape from the listing:\n%q", r.Stdout+r.Stderr)
				}
				for _, m := range readLayoutIndex(t, dir).Manifests {
					if m.Digest == ref && (m.Size != int64(len(raw)) || strings.Contains(m.ArtifactType, "evil")) {
						t.Errorf("the destination lists the signature as the source's listing said: %+v", m)
					}
				}
				pol := scopePolicy(s, scopeRule{"layouts", "enforce", "oci:" + dir})
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 0,
			want:     []string{"PASS"},
			notWant:  []string{"evil"},
		},
		attack{
			name:   "layout review: copy --all-tags from a registry listing a tag that is a path",
			guards: "copy --all-tags writes only tags: a source listing \"../../other/manifests/x\" is refused before any write, never PUT into another repository's path at the destination",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				evil := "../../../../" + s.repo + "-victim/manifests/pwned"
				src, dst := "/v2/"+s.repo+"/", "/v2/"+s.repo+"-mirror/"
				var mu sync.Mutex
				var escaped []string
				t.Cleanup(func() {
					mu.Lock()
					defer mu.Unlock()
					if len(escaped) > 0 {
						t.Errorf("copy sent the destination requests outside its repository: %q", escaped)
					}
				})
				host := hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
					switch {
					case r.URL.Path == src+"tags/list":
						w.Header().Set("Content-Type", "application/json")
						_ = json.NewEncoder(w).Encode(map[string]any{"name": s.repo, "tags": []string{"v1", evil}})
						return true
					case strings.HasPrefix(r.URL.Path, src+"manifests/") && strings.Contains(r.URL.Path, ".."):
						r.URL.Path = src + "manifests/v1" // the source serves v1 under it
					case strings.HasPrefix(r.URL.Path, dst) && strings.Contains(r.URL.Path, "..") && r.Method != http.MethodGet && r.Method != http.MethodHead:
						mu.Lock()
						escaped = append(escaped, r.Method+" "+r.URL.Path)
						mu.Unlock()
						w.WriteHeader(http.StatusBadRequest)
						return true
					}
					return false
				})
				return []string{"copy", "--all-tags", host + "/" + s.repo, host + "/" + s.repo + "-mirror"}
			},
			wantCode: 3,
			want:     []string{"is not one"},
		},
		attack{
			name:   "layout review: copy --platform of a manifest whose mediaType names no type it is",
			guards: "a manifest that is an index by its shape but names another media type is read once: copy --platform refuses it instead of recursing until the stack overflows",
			run: func(t *testing.T, s *scene) []string {
				dir, _ := s.signedLayout("v1")
				child := s.layoutTag(dir, "v1")
				raw := []byte(`{"schemaVersion":2,"mediaType":"application/x-not-an-index","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + child.String() + `","size":` + fmt.Sprint(len(readBlob(t, dir, child))) + `,"platform":{"os":"linux","architecture":"amd64"}}]}`)
				d := putLayoutBlob(t, dir, raw)
				idx := readLayoutIndex(t, dir)
				idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: "application/x-not-an-index", Digest: d, Size: int64(len(raw)),
					Annotations: map[string]string{"org.opencontainers.image.ref.name": "weird"}})
				writeLayoutIndex(t, dir, idx)
				within(t, 30*time.Second)
				return []string{"copy", "--platform", "linux/amd64", "oci:" + dir + ":weird", "oci:" + s.path("dest")}
			},
			wantCode: 2,
			want:     []string{"--platform linux/amd64"},
			notWant:  []string{"goroutine", "stack overflow"},
		},
		attack{
			name:   "layout review: copy of a referrer whose annotations carry a ref.name into a layout",
			guards: "a referrer copied into a layout is listed untagged: a ref.name among its annotations (the source's words) never tags it, nor makes another tag of the layout name two manifests",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("prod")
				d := s.image("v1")
				rp := openRepo(t, s.host, s.repo)
				desc, err := rp.Resolve(context.Background(), rp.Name().Tag("v1"))
				if err != nil {
					t.Fatal(err)
				}
				if desc.Digest != d {
					t.Fatalf("v1 resolved to %s, pushed %s", desc.Digest, d)
				}
				ann := map[string]string{"org.opencontainers.image.ref.name": "prod"}
				m := attachment.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: "application/x-evil",
					Config:      v1.Descriptor{MediaType: attachment.EmptyMediaType, Digest: putEmpty(t, rp), Size: 2, Data: attachment.EmptyJSON},
					Layers:      []v1.Descriptor{},
					Subject:     &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
					Annotations: ann}
				raw, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(raw)
				rd := v1.Descriptor{MediaType: types.OCIManifestSchema1, ArtifactType: "application/x-evil", Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, Size: int64(len(raw)), Annotations: ann}
				if _, err := rp.PushReferrer(context.Background(), storage.Referrer{Manifest: raw, Descriptor: rd, Subject: d}); err != nil {
					t.Fatal(err)
				}
				s.must("copy", s.ref("v1"), "oci:"+dir)
				for _, e := range readLayoutIndex(t, dir).Manifests {
					if e.Digest == rd.Digest && e.Annotations["org.opencontainers.image.ref.name"] != "" {
						t.Errorf("the copied referrer is tagged %q in index.json", e.Annotations["org.opencontainers.image.ref.name"])
					}
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":prod"}
			},
			wantCode: 0,
			want:     []string{"PASS"},
			notWant:  []string{"two manifests"},
		},
		attack{
			name:   "layout review: copy of a layout into itself through a symlinked path",
			guards: "a layout copied onto itself under another spelling loses nothing: every manifest and blob is already there and stays",
			run: func(t *testing.T, s *scene) []string {
				dir, pol := s.signedLayout("v1")
				before := readLayoutIndex(t, dir)
				link := s.path("link")
				if err := os.Symlink(dir, link); err != nil {
					t.Fatal(err)
				}
				s.must("copy", "oci:"+dir+":v1", "oci:"+link+":v1")
				s.must("copy", "--all-tags", "oci:"+dir, "oci:"+link)
				after := readLayoutIndex(t, dir)
				if len(after.Manifests) != len(before.Manifests) {
					t.Errorf("index.json listed %d manifests, %d after copying the layout onto itself", len(before.Manifests), len(after.Manifests))
				}
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 0,
			want:     []string{"PASS"},
		},
	)
}

// putEmpty uploads the OCI empty JSON blob to rp and returns its digest.
func putEmpty(t *testing.T, rp *registry.Repo) v1.Hash {
	t.Helper()
	d, err := rp.PutBlob(context.Background(), attachment.EmptyJSON)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// unsignedRef pushes a fresh unsigned image as repo:tag and returns its reference.
func (s *scene) unsignedRef(tag string) string {
	s.t.Helper()
	s.image(tag)
	return s.ref(tag)
}

// signedLayout copies a fresh image into the layout s.path("layout") under
// tag, signs it there with the trusted key, and returns the directory and
// a policy whose one rule covers that layout.
func (s *scene) signedLayout(tag string) (string, string) {
	s.t.Helper()
	s.image(tag)
	dir := s.path("layout")
	s.must("copy", s.ref(tag), "oci:"+dir)
	s.must("sign", "--key", s.trusted(), "oci:"+dir+":"+tag)
	pol := scopePolicy(s, scopeRule{"layouts", "enforce", "oci:" + dir})
	s.must("verify", "--policy", pol, "oci:"+dir+":"+tag)
	return dir, pol
}

// layoutTag is the digest index.json gives tag.
func (s *scene) layoutTag(dir, tag string) v1.Hash {
	s.t.Helper()
	for _, m := range readLayoutIndex(s.t, dir).Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == tag {
			return m.Digest
		}
	}
	s.t.Fatalf("no tag %s in %s", tag, dir)
	return v1.Hash{}
}

// registryReferrer is the digest of the one signature tree lists on the
// registry's tag.
func (s *scene) registryReferrer(tag string) v1.Hash {
	s.t.Helper()
	var tr verify.Tree
	if err := json.Unmarshal([]byte(s.must("tree", "--output", "json", s.ref(tag)).Stdout), &tr); err != nil || len(tr.Attachments) != 1 {
		s.t.Fatalf("tree: %v %+v", err, tr.Attachments)
	}
	h, err := v1.NewHash(tr.Attachments[0].Referrer)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// layoutReferrer is the digest of the one signature tree lists on tag.
func (s *scene) layoutReferrer(dir, tag string) v1.Hash {
	s.t.Helper()
	var tr verify.Tree
	if err := json.Unmarshal([]byte(s.must("tree", "--output", "json", "oci:"+dir+":"+tag).Stdout), &tr); err != nil || len(tr.Attachments) != 1 {
		s.t.Fatalf("tree: %v %+v", err, tr.Attachments)
	}
	h, err := v1.NewHash(tr.Attachments[0].Referrer)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

func readLayoutIndex(t *testing.T, dir string) *v1.IndexManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	return &idx
}

func writeLayoutIndex(t *testing.T, dir string, idx *v1.IndexManifest) {
	t.Helper()
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readBlob(t *testing.T, dir string, d v1.Hash) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func putLayoutBlob(t *testing.T, dir string, raw []byte) v1.Hash {
	t.Helper()
	sum := sha256.Sum256(raw)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h.Hex), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}
