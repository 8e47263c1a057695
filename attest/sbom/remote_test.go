package sbom

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// TestRemoteImage scans an image as the CLI does, from a registry, where
// layers stream over HTTP and go-containerregistry checks each blob's digest
// once it is read to the end: a tampered blob must fail the scan rather than
// yield an SBOM of content the manifest does not name.
func TestRemoteImage(t *testing.T) {
	// The status layer is uncompressed, so changing a letter of a package
	// description changes nothing a tar reader or the cataloger checks:
	// only the digest check can notice.
	statusLayer := layer(t, plain, file(status, fixture(t, "dpkg/status")))
	var tamper atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tamper.Load() || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+digestOf(t, statusLayer)) {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := bytes.Replace(rec.Body.Bytes(), []byte("basic utilities"), []byte("basic Utilities"), 1)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	defer srv.Close()

	img := image(t,
		layer(t, gzipped, file(osRel, fixture(t, "os-release.debian"))),
		statusLayer,
	)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/test/debian:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	rimg, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	res := scan(t, rimg, catalog.OSPackages())
	if got := names(res); !reflect.DeepEqual(got, dpkgStatusSet) {
		t.Errorf("got %q", got)
	}
	if res.OS == nil || res.OS.ID != "debian" {
		t.Errorf("OS = %+v", res.OS)
	}

	tamper.Store(true)
	rimg, err = remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Scan(context.Background(), rimg, catalog.OSPackages())
	if err == nil || !strings.Contains(err.Error(), "reading layer 1") || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("scan of a tampered blob: err = %v, want a digest mismatch on layer 1", err)
	}
}
