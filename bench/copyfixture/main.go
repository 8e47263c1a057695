// Command copyfixture pushes the image `make bench-copy` copies: an OCI
// image for linux/amd64 of LAYERS layers holding SIZE bytes in all, each
// layer one file of pseudo-random (incompressible) bytes from a fixed seed,
// so gzip leaves the blobs as big as their content and every run pushes the
// same digests. Loopback registries only; prints the manifest digest.
//
//	copyfixture [-size 200MiB-in-bytes] [-layers 5] REF
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	size := flag.Int64("size", 200<<20, "total bytes of layer content")
	layers := flag.Int("layers", 5, "number of layers")
	flag.Parse()
	if flag.NArg() != 1 || *layers < 1 || *size < int64(*layers) {
		fmt.Fprintln(os.Stderr, "usage: copyfixture [-size BYTES] [-layers N] REF")
		os.Exit(2)
	}
	if err := push(flag.Arg(0), *size, *layers); err != nil {
		fmt.Fprintln(os.Stderr, "copyfixture:", err)
		os.Exit(3)
	}
}

func push(ref string, size int64, n int) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(r.Context().RegistryStr())
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("only loopback registries, not %s", r.Context().RegistryStr())
	}
	rng := rand.NewChaCha8([32]byte{'i', 'm', 'g', 's', 'i', 'g', 'n'})
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := range n {
		content := size / int64(n)
		if i == n-1 {
			content = size - content*int64(n-1)
		}
		tarred, err := layerTar(fmt.Sprintf("data/layer%d.bin", i), content, rng)
		if err != nil {
			return err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(tarred)), nil
		}, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/true"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := remote.Write(r, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

// layerTar is a tar holding one file of size pseudo-random bytes.
func layerTar(path string, size int64, rng *rand.ChaCha8) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(int(size) + 4096)
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		chunk := buf[:min(int64(len(buf)), left)]
		_, _ = rng.Read(chunk) // never fails
		if _, err := tw.Write(chunk); err != nil {
			return nil, err
		}
		left -= int64(len(chunk))
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
