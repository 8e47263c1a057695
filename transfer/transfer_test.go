package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/statement"
)

// scene is an image on a source registry with a signature, an attestation,
// a signature of that attestation (a referrer of a referrer) and cosign
// legacy .sig and .sbom tags.
type scene struct {
	src, dst              *server
	image                 v1.Descriptor
	sig, att, attSig      v1.Descriptor
	legacySig, legacySBOM string
}

func newScene(t *testing.T, srcAPI, dstAPI bool) *scene {
	t.Helper()
	s := &scene{src: newServer(t, srcAPI), dst: newServer(t, dstAPI)}
	repo := openRepo(t, s.src.Host, "app")
	s.image = pushImage(t, s.src.Host, "app", "v1")
	s.sig = attach(t, repo, s.image, statement.Signature, "1")
	s.att = attach(t, repo, s.image, statement.SLSAProvenanceV1, "2")
	s.attSig = attach(t, repo, s.att, statement.Signature, "3")
	legacyTag(t, repo, s.image.Digest, "sig", "payload A")
	legacyTag(t, repo, s.image.Digest, "sbom", `{"spdxVersion":"SPDX-2.3"}`)
	s.legacySig = attachment.LegacyTag(s.image.Digest, "sig")
	s.legacySBOM = attachment.LegacyTag(s.image.Digest, "sbom")
	return s
}

func (s *scene) copy(t *testing.T, req Request) *Result {
	t.Helper()
	if req.Source == "" {
		req.Source = s.src.Host + "/app:v1"
	}
	if req.Destination == "" {
		req.Destination = s.dst.Host + "/mirror"
	}
	res, err := Copy(context.Background(), client(), req)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	return res
}

// Everything attached comes, on both kinds of destination, and the
// destination lists it as the source does; a second copy writes nothing.
func TestCopyCarriesEverythingAttached(t *testing.T) {
	for _, c := range []struct {
		name           string
		srcAPI, dstAPI bool
	}{{"api to tag schema", true, false}, {"tag schema to api", false, true}, {"api to api", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t, c.srcAPI, c.dstAPI)
			res := s.copy(t, Request{})
			want := map[string]Status{
				s.sig.Digest.String(): StatusCopied, s.att.Digest.String(): StatusCopied, s.attSig.Digest.String(): StatusCopied,
				s.legacySig: StatusCopied, s.legacySBOM: StatusCopied,
			}
			if got := statuses(res); !equalMaps(got, want) {
				t.Errorf("attachments %v, want %v", got, want)
			}
			if res.Images[0].Status != StatusCopied || res.Images[0].Tag != "v1" || res.Images[0].Digest != s.image.Digest.String() {
				t.Errorf("image %+v", res.Images[0])
			}
			if res.DestinationReferrersAPI == nil || *res.DestinationReferrersAPI != c.dstAPI {
				t.Errorf("destination referrers API %v, want %v", res.DestinationReferrersAPI, c.dstAPI)
			}
			kinds := map[string]Kind{}
			for _, a := range res.Attachments {
				if a.Tag != "" {
					kinds[a.Tag] = a.Kind
				} else {
					kinds[a.Digest] = a.Kind
				}
			}
			if kinds[s.sig.Digest.String()] != KindSignature || kinds[s.att.Digest.String()] != KindAttestation ||
				kinds[s.legacySBOM] != KindSBOM {
				t.Errorf("kinds %v", kinds)
			}

			dst := openRepo(t, s.dst.Host, "mirror")
			top := listing(t, dst, s.image)
			if len(top.Entries) != 4 { // 2 referrers, .sig, .sbom
				t.Errorf("the destination lists %d attachments of the image, want 4", len(top.Entries))
			}
			if l := listing(t, dst, s.att); len(l.Entries) != 1 || l.Entries[0].Descriptor.Digest != s.attSig.Digest {
				t.Errorf("the attestation's own signature did not come: %+v", l.Entries)
			}
			if d, err := dst.Resolve(context.Background(), dst.Name().Tag("v1")); err != nil || d.Digest != s.image.Digest {
				t.Errorf("destination tag: %v %v", d.Digest, err)
			}

			s.dst.ResetLog()
			again := s.copy(t, Request{})
			if w := writes(s.dst); len(w) != 0 {
				t.Errorf("second copy wrote %q", w)
			}
			for k, st := range statuses(again) {
				if st != StatusExists {
					t.Errorf("second copy: %s %s", k, st)
				}
			}
			if again.Images[0].Status != StatusExists || again.Blobs.Copied != 0 || again.Manifests.Copied != 0 {
				t.Errorf("second copy: %+v blobs %+v manifests %+v", again.Images[0], again.Blobs, again.Manifests)
			}
		})
	}
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A dry run plans against the destination and writes nothing.
func TestCopyDryRun(t *testing.T) {
	s := newScene(t, true, false)
	s.dst.ResetLog()
	res := s.copy(t, Request{DryRun: true})
	if w := writes(s.dst); len(w) != 0 {
		t.Fatalf("dry run wrote %q", w)
	}
	for k, st := range statuses(res) {
		if st != StatusWouldCopy {
			t.Errorf("%s: %s, want would-copy", k, st)
		}
	}
	if res.Images[0].Status != StatusWouldCopy || res.Blobs.Copied == 0 || res.DestinationReferrersAPI == nil || *res.DestinationReferrersAPI {
		t.Errorf("dry run result: %+v %+v api %v", res.Images[0], res.Blobs, res.DestinationReferrersAPI)
	}
}

// --only keeps the image's attachments of the kinds named; what is
// attached to a kept one comes with it.
func TestCopyOnly(t *testing.T) {
	s := newScene(t, true, true)
	res := s.copy(t, Request{Only: []Kind{KindAttestation, KindSBOM}})
	want := map[string]Status{
		s.sig.Digest.String(): StatusSkipped, s.legacySig: StatusSkipped,
		s.att.Digest.String(): StatusCopied, s.attSig.Digest.String(): StatusCopied, s.legacySBOM: StatusCopied,
	}
	if got := statuses(res); !equalMaps(got, want) {
		t.Errorf("attachments %v, want %v", got, want)
	}
	// The rest later: only what is missing.
	res = s.copy(t, Request{Only: []Kind{KindSignature}})
	want = map[string]Status{
		s.sig.Digest.String(): StatusCopied, s.legacySig: StatusCopied,
		s.att.Digest.String(): StatusSkipped, s.legacySBOM: StatusSkipped,
	}
	if got := statuses(res); !equalMaps(got, want) {
		t.Errorf("second --only: attachments %v, want %v", got, want)
	}
}

// A legacy .sig tag the destination already has with other signatures
// keeps them and gains the source's: nothing is lost either side.
func TestCopyMergesLegacyTag(t *testing.T) {
	s := newScene(t, true, false)
	s.copy(t, Request{Only: []Kind{KindOther}}) // the image alone
	dst := openRepo(t, s.dst.Host, "mirror")
	legacyTag(t, dst, s.image.Digest, "sig", "payload B")

	res := s.copy(t, Request{})
	if st := statuses(res)[s.legacySig]; st != StatusMerged {
		t.Fatalf("%s: %s, want merged", s.legacySig, st)
	}
	raw, _, err := dst.Manifest(context.Background(), s.legacySig, v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 || m.Layers[0].Digest != registry.Digest([]byte("payload B")) || m.Layers[1].Digest != registry.Digest([]byte("payload A")) ||
		m.Layers[1].Annotations["dev.cosignproject.cosign/signature"] == "" {
		t.Errorf("merged layers %+v", m.Layers)
	}
	cfg, err := dst.Blob(context.Background(), m.Config, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(cfg, &cf); err != nil || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("merged config %s (%v)", cfg, err)
	}
	if again := s.copy(t, Request{}); statuses(again)[s.legacySig] != StatusExists {
		t.Errorf("after the merge: %s", statuses(again)[s.legacySig])
	}
}

// --platform copies one child of an index, and says what stays behind.
func TestCopyPlatform(t *testing.T) {
	src, dst := newServer(t, true), newServer(t, false)
	// A two-platform index whose children carry platforms.
	idx, children := pushPlatformIndex(t, src.Host, "multi", "v1")
	repo := openRepo(t, src.Host, "multi")
	attach(t, repo, idx, statement.Signature, "index")
	childSig := attach(t, repo, children["linux/arm64"], statement.Signature, "arm")
	res, err := Copy(context.Background(), client(), Request{Source: src.Host + "/multi:v1", Destination: dst.Host + "/one", Platform: "linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest != children["linux/arm64"].Digest.String() {
		t.Errorf("copied %s, want the arm64 child", res.Images[0].Digest)
	}
	if got := statuses(res); len(got) != 1 || got[childSig.Digest.String()] != StatusCopied {
		t.Errorf("attachments %v", got)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "which is not copied") {
		t.Errorf("notes %q", res.Notes)
	}
	_, err = Copy(context.Background(), client(), Request{Source: src.Host + "/multi:v1", Destination: dst.Host + "/one", Platform: "linux/s390x"})
	if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("a platform the index lacks: %v", err)
	}
}

// A source blob whose bytes do not match its digest fails the copy with
// exit 3 naming the blob; the destination never gets it.
func TestCopyCorruptSourceBlob(t *testing.T) {
	fastRetries(t)
	s := newScene(t, true, false)
	s.src.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		rec := httptestRecorder(s.src, r)
		b := rec.Body.Bytes()
		if len(b) > 100 {
			b[50] ^= 0xff
		}
		_, _ = w.Write(b)
		return true
	})
	_, err := Copy(context.Background(), client(), Request{Source: s.src.Host + "/app:v1", Destination: s.dst.Host + "/mirror"})
	if k, _ := errkind.Of(err); k != errkind.Operational || !strings.Contains(err.Error(), "corrupted") || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("err = %v", err)
	}
	if d, err := openRepo(t, s.dst.Host, "mirror").Resolve(context.Background(), openRepo(t, s.dst.Host, "mirror").Name().Tag("v1")); err == nil {
		t.Errorf("the destination tag exists after a failed copy: %s", d.Digest)
	}
}

// A transfer through which nothing passes for StallTimeout is cut off.
func TestCopyStalledBlob(t *testing.T) {
	fastRetries(t)
	old := StallTimeout
	StallTimeout = 200 * time.Millisecond
	t.Cleanup(func() { StallTimeout = old })
	s := newScene(t, true, false)
	s.src.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write([]byte("a few bytes"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	})
	start := time.Now()
	_, err := Copy(context.Background(), client(), Request{Source: s.src.Host + "/app:v1", Destination: s.dst.Host + "/mirror"})
	if k, _ := errkind.Of(err); k != errkind.Operational || !strings.Contains(err.Error(), "no data passed for 200ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// Referrers nesting deeper than MaxReferrerDepth stop the copy: a partial
// copy could leave the one that matters behind.
func TestCopyReferrerDepthLimit(t *testing.T) {
	src, dst := newServer(t, true), newServer(t, true)
	repo := openRepo(t, src.Host, "app")
	subject := pushImage(t, src.Host, "app", "v1")
	for i := 0; i <= MaxReferrerDepth; i++ {
		subject = attach(t, repo, subject, statement.Signature, string(rune('a'+i)))
	}
	_, err := Copy(context.Background(), client(), Request{Source: src.Host + "/app:v1", Destination: dst.Host + "/app"})
	var le *registry.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "levels deep") {
		t.Fatalf("err = %v, want a limit error", err)
	}
}

func TestCopyRefusesBadRequests(t *testing.T) {
	src := newServer(t, true)
	pushImage(t, src.Host, "app", "v1")
	for _, c := range []struct {
		name string
		req  Request
		want string
	}{
		{"same", Request{Source: src.Host + "/app:v1", Destination: src.Host + "/app"}, "the same"},
		{"same tag", Request{Source: src.Host + "/app:v1", Destination: src.Host + "/app:v1"}, "the same"},
		{"all tags with a tag", Request{Source: src.Host + "/app:v1", Destination: src.Host + "/b", AllTags: true}, "without a tag"},
		{"all tags same repo", Request{Source: src.Host + "/app", Destination: src.Host + "/app", AllTags: true}, "same repository"},
		{"platform", Request{Source: src.Host + "/app:v1", Destination: src.Host + "/b", Platform: "amd64"}, "os/arch"},
		{"jobs", Request{Source: src.Host + "/app:v1", Destination: src.Host + "/b", Jobs: 1000}, "--jobs"},
		{"not found", Request{Source: src.Host + "/app:v9", Destination: src.Host + "/b"}, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Copy(context.Background(), client(), c.req)
			if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want bad input mentioning %q", err, c.want)
			}
		})
	}
	// Another tag in the same repository is a retag: allowed.
	res, err := Copy(context.Background(), client(), Request{Source: src.Host + "/app:v1", Destination: src.Host + "/app:v2"})
	if err != nil || res.Images[0].Status != StatusCopied {
		t.Fatalf("retag: %v", err)
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds([]string{"signatures,attestation", "sbom", " other "})
	if err != nil || len(got) != 4 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseKinds([]string{"keys"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
	if got, _ := ParseKinds(nil); got != nil {
		t.Errorf("no --only: %v", got)
	}
}

func TestReferrerKind(t *testing.T) {
	for _, c := range []struct {
		name string
		m    manifest
		b    []byte
		want Kind
	}{
		{"annotated signature", manifest{Annotations: map[string]string{attachment.AnnotationPredicateType: statement.Signature}}, nil, KindSignature},
		{"annotated provenance", manifest{Annotations: map[string]string{attachment.AnnotationPredicateType: statement.SLSAProvenanceV1}}, nil, KindAttestation},
		{"bundle without annotation", manifest{ArtifactType: attachment.BundleMediaType}, bundleOf(statement.Signature, ""), KindSignature},
		{"bundle of an SBOM statement", manifest{ArtifactType: attachment.BundleMediaType}, bundleOf(statement.SPDX, ""), KindAttestation},
		{"message signature bundle", manifest{ArtifactType: attachment.BundleMediaType}, []byte(`{"messageSignature":{}}`), KindSignature},
		{"unreadable bundle", manifest{ArtifactType: attachment.BundleMediaType}, []byte(`nope`), KindAttestation},
		{"notation", manifest{ArtifactType: "application/vnd.cncf.notary.signature"}, nil, KindSignature},
		{"spdx document", manifest{ArtifactType: "application/spdx+json"}, nil, KindSBOM},
		{"cyclonedx by config", manifest{Config: &v1.Descriptor{MediaType: "application/vnd.cyclonedx+json"}}, nil, KindSBOM},
		{"helm chart", manifest{ArtifactType: "application/vnd.cncf.helm.config.v1+json"}, nil, KindOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := referrerKind(&c.m, func() []byte { return c.b }); got != c.want {
				t.Errorf("kind %s, want %s", got, c.want)
			}
		})
	}
}

func TestHasTagOrDigest(t *testing.T) {
	for s, want := range map[string]bool{
		"reg:5000/app": false, "reg:5000/app:v1": true, "app@sha256:00": true, "reg/ns/app": false, "app:v1": true,
	} {
		if got := hasTagOrDigest(s); got != want {
			t.Errorf("hasTagOrDigest(%q) = %v", s, got)
		}
	}
}

// A destination tag that named another image is moved, and the result
// says what it named.
func TestCopyMovesTag(t *testing.T) {
	s := newScene(t, true, true)
	first := s.copy(t, Request{})
	pushImage(t, s.src.Host, "app", "v2")
	res := s.copy(t, Request{Source: s.src.Host + "/app:v2", Destination: s.dst.Host + "/mirror:v1"})
	if res.Images[0].PreviousDigest != first.Images[0].Digest || res.Images[0].Tag != "v1" {
		t.Errorf("image %+v, want the tag moved from %s", res.Images[0], first.Images[0].Digest)
	}
}

// A legacy tag the destination holds without the image (signatures copied
// on their own) is merged with, not overwritten.
func TestCopyLegacyTagWithoutImage(t *testing.T) {
	s := newScene(t, true, false)
	legacyTag(t, openRepo(t, s.dst.Host, "mirror"), s.image.Digest, "sig", "payload B")
	res := s.copy(t, Request{})
	if st := statuses(res)[s.legacySig]; st != StatusMerged {
		t.Errorf("%s: %s, want merged", s.legacySig, st)
	}
}

// Progress ends with everything counted done.
func TestCopyProgress(t *testing.T) {
	s := newScene(t, true, false)
	var last Progress
	var mu sync.Mutex
	res := s.copy(t, Request{Progress: func(p Progress) { mu.Lock(); last = p; mu.Unlock() }})
	if last.Blobs == 0 || last.BlobsDone != last.Blobs || last.BytesDone != last.Bytes || last.Bytes != res.Blobs.Bytes ||
		last.ManifestsDone != last.Manifests || last.Manifests != res.Manifests.Copied+1 { // +1: the tag
		t.Errorf("last progress %+v, result blobs %+v manifests %+v", last, res.Blobs, res.Manifests)
	}
	if update, end := ProgressBar(&strings.Builder{}); update != nil {
		t.Error("a progress bar on something that is not a terminal")
	} else {
		end()
	}
}
