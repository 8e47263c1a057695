package e2e

// A third adversarial pass over OCI layouts, imgsign copy, mirrors and
// --offline (issue 15): what a source, a destination or a tag name can make
// a copy write or claim. Run with go test -run 'TestRedTeam3' ./e2e.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// cosignSignWith signs image with cosign in its legacy layout (a layer of
// the sha256-<hex>.sig tag) using the key pair NAME.key of e.
func cosignSignWith(t *testing.T, e *env, cosign, keyName, image string) {
	t.Helper()
	args := []string{"sign", "--key", keyName + ".key", "--tlog-upload=false", "--use-signing-config=false",
		"--new-bundle-format=false", "--allow-insecure-registry", "-y", image}
	r := testenv.Run(t, e.dir, []string{"COSIGN_PASSWORD=" + passphrase}, cosign, args...)
	if r.Code != 0 {
		t.Fatalf("cosign %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
}

// scopedPolicy writes the policy file file whose one rule covers scope and
// requires threshold signatures among keys.
func scopedPolicy(e *env, file, scope string, keys []string, threshold int) string {
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  - name: %s\n    publicKey: %s.pub\n", k, k)
	}
	fmt.Fprintf(&b, "policies:\n  - name: layout\n    scopes: [%q]\n    signatures:\n      keys: [%s]\n      threshold: %d\n",
		scope, strings.Join(keys, ", "), threshold)
	return e.write(file, b.String())
}

// cosign signs the same payload bytes for every key (the image's digest and
// repository), so two signatures of one image are two layers of its .sig
// tag with one digest and different signature annotations. A copy compared
// the source's tag with the destination's by layer digest alone: re-run
// after a second signer signed at the source, it found the destination
// "already there" (or merged by digest, keeping only the first) and the
// second signature never reached the destination, while copy exited 0.
func TestRedTeam3LegacySecondSignatureSamePayload(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, into := range []string{"layout", "registry"} {
		t.Run(into, func(t *testing.T) {
			host := testenv.Registry(t, true).Addr
			e := newEnv(t)
			e.key("k", "ed25519")
			e.key("k2", "ed25519")
			testenv.PushImage(t, host, "app", "v1")
			src := host + "/app:v1"
			cosignSignWith(t, e, cosign, "k", src)

			dst, verifyRef, pol := "", "", ""
			switch into {
			case "layout":
				dir := filepath.Join(e.dir, "layout")
				dst, verifyRef = "oci:"+dir+":v1", "oci:"+dir+":v1"
				pol = scopedPolicy(e, "dst.yaml", "oci:"+dir, []string{"k", "k2"}, 2)
			case "registry":
				dst2 := testenv.Registry(t, false).Addr
				dst, verifyRef = dst2+"/app:v1", dst2+"/app:v1"
				pol = scopedPolicy(e, "dst.yaml", dst2+"/**", []string{"k", "k2"}, 2)
			}
			e.must("copy", src, dst)
			cosignSignWith(t, e, cosign, "k2", src)
			// Both signatures verify at the source.
			e.must("verify", "--policy", scopedPolicy(e, "src.yaml", host+"/**", []string{"k", "k2"}, 2), src)

			r := e.must("copy", src, dst)
			v := e.run("verify", "--policy", pol, verifyRef)
			if v.Code != 0 {
				t.Fatalf("copy exited 0 (%s), but the destination lacks k2's signature: verify exit %d\n%s%s", strings.TrimSpace(r.Stdout), v.Code, v.Stdout, v.Stderr)
			}
		})
	}
}

// docker load and ctr import name the images of an OCI layout by each
// index.json entry's io.containerd.image.name annotation (a full
// reference), and by ref.name only where that is missing. imgsign read
// ref.name alone: a layout whose "v1" (ref.name) is the signed image, with
// another entry naming an unsigned image ghcr.io/acme/app:v1 through
// io.containerd.image.name, verified as oci:DIR:v1 — and docker load of the
// same layout tags the unsigned one ghcr.io/acme/app:v1. A tag some entry
// gives another manifest by either annotation is ambiguous, and refused as
// a tag on two manifests is — whatever repository the full reference
// names: without --as a layout's tag belongs to no repository.
func TestRedTeam3LayoutTagAlsoNamedByContainerdAnnotation(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	testenv.PushImage(t, host, "app", "evil")
	dir := filepath.Join(e.dir, "layout")
	e.must("copy", host+"/app:v1", "oci:"+dir)
	e.must("sign", "--key", "k.key", "--as", "ghcr.io/acme/app", "oci:"+dir+":v1")
	e.must("copy", host+"/app:evil", "oci:"+dir)
	pol := scopedPolicy(e, "trust.yaml", "ghcr.io/acme/**", []string{"k"}, 1)
	e.must("verify", "--policy", pol, "--as", "ghcr.io/acme/app", "oci:"+dir+":v1")

	for _, name := range []string{"ghcr.io/acme/app:v1", "docker.io/library/other:v1"} {
		idx := readLayoutIndex(t, dir)
		for i, m := range idx.Manifests {
			if m.Annotations["org.opencontainers.image.ref.name"] == "evil" || m.Annotations["io.containerd.image.name"] != "" {
				idx.Manifests[i].Annotations = map[string]string{"io.containerd.image.name": name}
			}
		}
		writeLayoutIndex(t, dir, idx)
		r := e.run("verify", "--policy", pol, "--as", "ghcr.io/acme/app", "oci:"+dir+":v1")
		expectExit(t, r, 1, "names two manifests", "io.containerd.image.name")
	}
}

// The same without a tag: oci:DIR names the layout's only image, and
// entries imgsign reads as attachments (a sha256-<hex>… tag, a subject, a
// child of a listed index) are not images. An unsigned image listed under
// such a tag, with io.containerd.image.name ghcr.io/acme/app:v1, left the
// signed image the only one: oci:DIR verified, and docker load of the
// layout tagged the unsigned one. Any other entry carrying a name docker
// load or ctr import would load it as makes oci:DIR ambiguous.
func TestRedTeam3SoleImageBesideContainerdNamedEntry(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	testenv.PushImage(t, host, "app", "evil")
	dir := filepath.Join(e.dir, "layout")
	e.must("copy", host+"/app:v1", "oci:"+dir)
	e.must("sign", "--key", "k.key", "--as", "ghcr.io/acme/app", "oci:"+dir)
	e.must("copy", host+"/app:evil", "oci:"+dir)
	pol := scopedPolicy(e, "trust.yaml", "ghcr.io/acme/**", []string{"k"}, 1)

	idx := readLayoutIndex(t, dir)
	for i, m := range idx.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == "evil" {
			idx.Manifests[i].Annotations = map[string]string{
				"org.opencontainers.image.ref.name": "sha256-" + strings.Repeat("a", 64) + ".sig",
				"io.containerd.image.name":          "ghcr.io/acme/app:v1",
			}
		}
	}
	writeLayoutIndex(t, dir, idx)
	r := e.run("verify", "--policy", pol, "--as", "ghcr.io/acme/app", "oci:"+dir)
	expectExit(t, r, 1, "io.containerd.image.name")
}

// --offline allows the image's registry "in any spelling", and every name
// of this machine is one spelling of localhost, *.localhost included. But
// only an address is reached without a lookup: a registry at 127.0.0.1
// naming its token service (or a redirect) at evil.localhost:PORT had
// verify --offline look that name up through /etc/hosts and DNS — a query
// that leaves the machine, whose answer can be any address. A host name is
// allowed as the images name it; an address in any spelling.
func TestRedTeam3OfflineLocalhostSubdomain(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://imgsign-redteam.localhost:`+port+`/token",service="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	pol := scopedPolicy(e, "trust.yaml", host+"/**", []string{"k"}, 1)
	r := e.run("verify", "--offline", "--policy", pol, host+"/app:1.0")
	expectExit(t, r, 2, "--offline: refusing to connect to imgsign-redteam.localhost:")
}

// A copy into a layout on a shared volume, whose index.json.lock someone
// else holds (flock) for ever: the copy waited in a blocking flock that
// neither --timeout nor SIGTERM reaches. It now gives up with the run
// (exit 3), naming the lock.
func TestRedTeam3CopyIntoLayoutWhoseLockIsHeld(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	testenv.PushImage(t, host, "app", "v1")
	dir := filepath.Join(e.dir, "layout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "index.json.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := runWithin(t, e, 60*time.Second, nil, "copy", "--timeout", "3s", host+"/app:v1", "oci:"+dir)
	expectExit(t, r, 3, "index.json.lock, which another process holds")
}
