// Command releaseimage writes the imgsign container image of a release as
// an OCI image layout: an index of one image per linux platform, each a
// single layer holding the static binary at /usr/local/bin/imgsign, run as
// an unprivileged user — what deploy/kubernetes runs for `imgsign serve`.
// The bytes depend only on the binaries, the version and SOURCE_DATE_EPOCH.
//
//	releaseimage -out DIR -version V -epoch SECONDS [-source URL] linux/amd64=BIN linux/arm64=BIN
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonRoot is the user the image runs as (distroless' "nonroot").
const nonRoot = "65532:65532"

func main() {
	out := flag.String("out", "", "OCI image layout `DIR` to write (must not exist)")
	version := flag.String("version", "", "release `VERSION`")
	epoch := flag.Int64("epoch", 0, "SOURCE_DATE_EPOCH: every timestamp in the image")
	source := flag.String("source", "https://github.com/imgsign/imgsign", "source repository `URL` (image label)")
	flag.Parse()
	if err := run(*out, *version, *source, time.Unix(*epoch, 0).UTC(), flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "releaseimage: %v\n", err)
		os.Exit(1)
	}
}

func run(out, version, source string, at time.Time, bins []string) error {
	if out == "" || version == "" || len(bins) == 0 {
		return fmt.Errorf("usage: releaseimage -out DIR -version V -epoch SECONDS linux/ARCH=BINARY...")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists: remove it first", out)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		plat, bin, ok := strings.Cut(b, "=")
		goos, arch, ok2 := strings.Cut(plat, "/")
		if !ok || !ok2 || goos != "linux" {
			return fmt.Errorf("%q is not linux/ARCH=BINARY", b)
		}
		img, err := image(bin, arch, version, source, at)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: arch}}})
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version}))
}

func image(bin, arch, version, source string, at time.Time) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: at, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "usr/local/bin/imgsign", Mode: 0o755, Size: int64(len(data)), ModTime: at, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", arch, v1.Time{Time: at}
	cfg.Config.Entrypoint = []string{"/usr/local/bin/imgsign"}
	cfg.Config.User = nonRoot
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "imgsign",
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  source,
		"org.opencontainers.image.created": at.Format(time.RFC3339),
	}
	cfg.History = nil
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: at})
}
