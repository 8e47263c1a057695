package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
)

// A streamed blob is checked as it passes: its size against the
// descriptor, its digest at the end. A registry that sends other bytes,
// fewer or more never yields a clean io.EOF.
func TestOpenBlobChecksWhatPasses(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("layer bytes "), 1000)
	d := v1.Descriptor{Digest: Digest(content), Size: int64(len(content))}
	cases := []struct {
		name string
		body []byte
		want string // "" for success
	}{
		{"intact", content, ""},
		{"same size, other bytes", append(bytes.ToUpper(content[:1]), content[1:]...), "digest mismatch"},
		{"short", content[:len(content)-1], "sent 11999 bytes"},
		{"long", append(append([]byte{}, content...), 'x'), "more than the 12000 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := serveRegistry(t, true)
			p.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
					return false
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(tc.body)))
				_, _ = w.Write(tc.body)
				return true
			})
			repo := openRepo(t, p.Host, "app")
			rc, err := repo.OpenBlob(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if tc.want == "" {
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("read %d bytes, err %v", len(got), err)
				}
				return
			}
			wantKind(t, err, errkind.Untrusted, tc.want)
			if e, ok := rc.(interface{ Err() error }); !ok || e.Err() == nil {
				t.Errorf("the stream does not keep its failure for the upload it fed")
			}
		})
	}
}

func TestOpenBlobNotFound(t *testing.T) {
	p := serveRegistry(t, true)
	repo := openRepo(t, p.Host, "app")
	_, err := repo.OpenBlob(context.Background(), v1.Descriptor{Digest: Digest([]byte("absent")), Size: 6})
	if !isNotFound(err) {
		t.Fatalf("err = %v, want a NotFoundError", err)
	}
}

// PutBlobStream uploads in one PUT with the declared length, the registry
// checking the digest; HasBlob and HasManifest ask with HEAD.
func TestPutBlobStreamAndExistence(t *testing.T) {
	ctx := context.Background()
	p := serveRegistry(t, false)
	repo := openRepo(t, p.Host, "app")
	content := bytes.Repeat([]byte{7}, 100000)
	d := v1.Descriptor{Digest: Digest(content), Size: int64(len(content))}
	if ok, err := repo.HasBlob(ctx, d.Digest); err != nil || ok {
		t.Fatalf("HasBlob before upload = %v, %v", ok, err)
	}
	p.resetLog()
	// A reader that is not a bytes.Reader: the request cannot be replayed.
	if err := repo.PutBlobStream(ctx, d, io.MultiReader(bytes.NewReader(content))); err != nil {
		t.Fatalf("PutBlobStream: %v", err)
	}
	if got := p.requests(); len(got) != 2 || !strings.HasPrefix(got[0], "POST ") || !strings.HasPrefix(got[1], "PUT ") {
		t.Errorf("requests = %q, want one POST and one PUT", got)
	}
	if ok, err := repo.HasBlob(ctx, d.Digest); err != nil || !ok {
		t.Fatalf("HasBlob after upload = %v, %v", ok, err)
	}
	// Bytes that are not the digest's are refused by the registry.
	other := v1.Descriptor{Digest: Digest([]byte("other")), Size: int64(len(content))}
	if err := repo.PutBlobStream(ctx, other, bytes.NewReader(content)); err == nil {
		t.Fatal("the registry accepted bytes under another digest")
	}

	img := pushImage(t, p.Host, "app", "v1")
	if ok, err := repo.HasManifest(ctx, img.Digest); err != nil || !ok {
		t.Fatalf("HasManifest = %v, %v", ok, err)
	}
	if ok, err := repo.HasManifest(ctx, Digest([]byte("none"))); err != nil || ok {
		t.Fatalf("HasManifest of an absent manifest = %v, %v", ok, err)
	}
}

// An upload fed by a source stream that fails reports the source's failure
// (the digest mismatch), not the broken request it caused.
func TestPutBlobStreamReportsSourceFailure(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("x"), 5000)
	d := v1.Descriptor{Digest: Digest(content), Size: int64(len(content))}
	src := serveRegistry(t, true)
	src.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		_, _ = w.Write(bytes.Repeat([]byte("y"), len(content)))
		return true
	})
	dst := serveRegistry(t, true)
	rc, err := openRepo(t, src.Host, "app").OpenBlob(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	err = openRepo(t, dst.Host, "app").PutBlobStream(ctx, d, rc)
	wantKind(t, err, errkind.Untrusted, "digest mismatch")
}

func TestMountBlob(t *testing.T) {
	ctx := context.Background()
	p := serveRegistry(t, true)
	from := openRepo(t, p.Host, "src")
	to := openRepo(t, p.Host, "dst")
	d := v1.Descriptor{Digest: Digest([]byte("blob")), Size: 4}
	// go-containerregistry's registry does not mount: it opens an upload.
	if ok, err := to.MountBlob(ctx, d, from.Name()); err != nil || ok {
		t.Fatalf("MountBlob = %v, %v; want not mounted", ok, err)
	}
	p.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Query().Get("mount") == d.Digest.String() && r.URL.Query().Get("from") == "src" {
			w.WriteHeader(http.StatusCreated)
			return true
		}
		return false
	})
	if ok, err := to.MountBlob(ctx, d, from.Name()); err != nil || !ok {
		t.Fatalf("MountBlob = %v, %v; want mounted", ok, err)
	}
	// Another registry is never asked.
	other := serveRegistry(t, true)
	p.resetLog()
	if ok, err := to.MountBlob(ctx, d, openRepo(t, other.Host, "src").Name()); err != nil || ok {
		t.Fatalf("MountBlob across registries = %v, %v", ok, err)
	}
	if got := p.requests("POST"); len(got) != 0 {
		t.Errorf("asked the registry to mount from another one: %q", got)
	}
}

func TestTags(t *testing.T) {
	p := serveRegistry(t, true)
	for _, tag := range []string{"v1", "v2", "latest"} {
		pushImage(t, p.Host, "app", tag)
	}
	tags, err := openRepo(t, p.Host, "app").Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tags, ",") != "latest,v1,v2" {
		t.Errorf("tags = %q", tags)
	}
	none, err := openRepo(t, p.Host, "absent").Tags(context.Background())
	if err != nil || len(none) != 0 {
		t.Errorf("tags of a repository that does not exist = %q, %v", none, err)
	}
}
