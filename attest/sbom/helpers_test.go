package sbom

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// entry is one tar entry of a test layer.
type entry struct {
	name string
	body string
	typ  byte // tar.TypeReg when 0
	link string
	mode int64
}

func file(name, body string) entry { return entry{name: name, body: body} }
func dir(name string) entry        { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: to}
}
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }
func whiteout(p string) entry {
	d, b := filepath.Split(p)
	return entry{name: d + whiteoutPrefix + b}
}
func opaque(d string) entry { return entry{name: strings.TrimSuffix(d, "/") + "/" + whiteoutOpaque} }

// fixedTime keeps layer digests, and so golden files, stable.
var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func layerTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: mode, ModTime: fixedTime, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type compression int

const (
	plain compression = iota
	gzipped
	zstded
)

func compress(t testing.TB, c compression, b []byte) ([]byte, types.MediaType) {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case gzipped:
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), types.OCILayer
	case zstded:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(b)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), types.OCILayerZStd
	}
	return b, types.OCIUncompressedLayer
}

func layer(t testing.TB, c compression, entries ...entry) v1.Layer {
	t.Helper()
	b, mt := compress(t, c, layerTar(t, entries...))
	return static.NewLayer(b, mt)
}

func image(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// fixture reads a file under testdata/sbom, inflating .gz files.
func fixture(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sbom", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(rel, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}

func scan(t testing.TB, img v1.Image, cats []catalog.Cataloger, opts ...Option) *Result {
	t.Helper()
	res, err := Scan(context.Background(), img, cats, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// names renders packages as "type name version location" lines, sorted, so
// tests compare exact package sets readably.
func names(res *Result) []string {
	out := []string{}
	for _, p := range res.Packages {
		out = append(out, p.Type+" "+p.Name+" "+p.Version+" "+p.Location)
	}
	sort.Strings(out)
	return out
}
