package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

const (
	releaseVersion = "v0.0.0-releasetest"
	releaseEpoch   = "1764547200" // 2025-12-01T00:00:00Z
	releaseBuilder = "https://imgsign.dev/builders/make-release/v1"
)

var releasePlatforms = []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"}

// TestRelease runs `make release` with a throwaway key on a copy of the
// working tree and checks every artifact as a user would: SHA256SUMS, each
// file against the signed provenance and each binary against the signed
// SBOM with cosign verify-blob-attestation, the SBOM's content, the
// binaries' build settings. Then it builds linux/amd64 again from another
// copy, at another path, with an empty build cache, and wants the same bytes.
func TestRelease(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed", tool)
		}
	}
	root := actRoot(t)
	commit := strings.TrimSpace(releaseGit(t, root, "rev-parse", "HEAD"))

	e := newEnv(t)
	key := e.key("release", "ecdsa-p256")
	keyID := strings.TrimSpace(e.must("keys", "id", "--key", "release.pub").Stdout)
	dist := t.TempDir()
	env := []string{
		"IMGSIGN_RELEASE_KEY=" + key, "IMGSIGN_PASSWORD=" + passphrase,
		"VERSION=" + releaseVersion, "DIST=" + dist,
		"SOURCE_COMMIT=" + commit, "SOURCE_REF=refs/tags/" + releaseVersion, "SOURCE_DATE_EPOCH=" + releaseEpoch,
		// The generic builder, wherever the test runs.
		"GITHUB_ACTIONS=", "GITLAB_CI=",
	}
	snap := releaseSnapshot(t, root)
	r := releaseRun(t, snap, env, "make", "release")
	if r.Code != 0 {
		t.Fatalf("make release: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("make release:\n%s", r.Stderr)

	name := func(suffix string) string { return "imgsign_" + releaseVersion + suffix }
	var bins []string
	for _, p := range releasePlatforms {
		bins = append(bins, name("_"+p))
	}
	sbomName, provName, sbomBundle, pubName := name(".spdx.json"), name(".provenance.sigstore.json"), name(".sbom.sigstore.json"), name(".pub")
	want := append([]string{sbomName, provName, sbomBundle, pubName, "SHA256SUMS", name(".oci")}, bins...)
	sort.Strings(want)
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("dist holds %v, want %v", got, want)
	}
	path := func(n string) string { return filepath.Join(dist, n) }

	t.Run("checksums", func(t *testing.T) {
		sums := releaseSums(t, path("SHA256SUMS"))
		listed := append(append([]string{}, bins...), sbomName)
		if len(sums) != len(listed) {
			t.Errorf("SHA256SUMS lists %d files, want %d: %v", len(sums), len(listed), sums)
		}
		for _, n := range listed {
			if sums[n] == "" || sums[n] != releaseSHA256(t, path(n)) {
				t.Errorf("SHA256SUMS: %s has %q, the file %s", n, sums[n], releaseSHA256(t, path(n)))
			}
		}
	})

	t.Run("container image", func(t *testing.T) {
		checkReleaseImage(t, path(name(".oci")), path(name("_linux_amd64")))
	})

	t.Run("public key", func(t *testing.T) {
		if id := strings.TrimSpace(e.must("keys", "id", "--key", path(pubName)).Stdout); id != keyID {
			t.Errorf("%s has key id %s, want the release key's %s", pubName, id, keyID)
		}
	})

	verify := func(t *testing.T, bundle, typ, file string) testenv.Result {
		t.Helper()
		return testenv.Run(t, dist, nil, cosign, "verify-blob-attestation", "--bundle", bundle, "--key", pubName, "--type", typ, "--insecure-ignore-tlog", file)
	}
	t.Run("cosign verifies the provenance of every artifact", func(t *testing.T) {
		for _, f := range append(append([]string{}, bins...), sbomName, "SHA256SUMS") {
			if r := verify(t, provName, "slsaprovenance1", f); r.Code != 0 {
				t.Errorf("%s: exit %d\n%s%s", f, r.Code, r.Stdout, r.Stderr)
			}
		}
		for _, f := range bins {
			if r := verify(t, sbomBundle, "spdxjson", f); r.Code != 0 {
				t.Errorf("SBOM attestation of %s: exit %d\n%s%s", f, r.Code, r.Stdout, r.Stderr)
			}
		}
		// A file that is not the release, or the wrong predicate type,
		// does not verify.
		tampered := filepath.Join(t.TempDir(), bins[0])
		b, err := os.ReadFile(path(bins[0]))
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(tampered, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if r := verify(t, provName, "slsaprovenance1", tampered); r.Code == 0 {
			t.Error("cosign accepted a modified binary")
		}
		if r := verify(t, provName, "spdxjson", path(bins[0])); r.Code == 0 {
			t.Error("cosign accepted the provenance as an SBOM")
		}
	})

	t.Run("provenance", func(t *testing.T) {
		st := releaseStatement(t, path(provName))
		var names []string
		for _, s := range st.Subject {
			names = append(names, s.Name)
			if s.Digest["sha256"] != releaseSHA256(t, path(s.Name)) {
				t.Errorf("subject %s: sha256 %s differs from the file", s.Name, s.Digest["sha256"])
			}
		}
		wantNames := append(append([]string{}, bins...), sbomName, "SHA256SUMS")
		if strings.Join(names, " ") != strings.Join(wantNames, " ") {
			t.Errorf("provenance subjects %v, want %v", names, wantNames)
		}
		var p struct {
			BuildDefinition struct {
				BuildType            string `json:"buildType"`
				ExternalParameters   map[string]map[string]string
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
			} `json:"runDetails"`
		}
		if err := json.Unmarshal(st.Predicate, &p); err != nil {
			t.Fatal(err)
		}
		deps := p.BuildDefinition.ResolvedDependencies
		if st.PredicateType != "https://slsa.dev/provenance/v1" || p.BuildDefinition.BuildType != "https://imgsign.dev/buildtypes/generic/v1" ||
			p.RunDetails.Builder.ID != releaseBuilder || len(deps) != 1 || deps[0].Digest["gitCommit"] != commit ||
			deps[0].URI != "git+https://github.com/imgsign/imgsign@refs/tags/"+releaseVersion ||
			p.BuildDefinition.ExternalParameters["source"]["ref"] != "refs/tags/"+releaseVersion {
			t.Errorf("provenance %s", st.Predicate)
		}
	})

	t.Run("SBOM", func(t *testing.T) {
		f, err := os.Open(path(sbomName))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		doc, err := spdxjson.Read(f)
		if err != nil {
			t.Fatalf("the SBOM does not parse as SPDX: %v", err)
		}
		if doc.CreationInfo.Created != "2025-12-01T00:00:00Z" || doc.CreationInfo.Creators[0].Creator != "imgsign-"+releaseVersion {
			t.Errorf("creation info %+v", doc.CreationInfo)
		}
		apps := map[string]string{}
		libs := map[string]bool{}
		for _, p := range doc.Packages {
			switch p.PrimaryPackagePurpose {
			case "APPLICATION":
				if len(p.PackageChecksums) == 1 {
					apps[p.PackageName] = p.PackageChecksums[0].Value
				}
			case "LIBRARY":
				libs[p.PackageName] = true
			}
		}
		for _, b := range bins {
			if apps[b] != releaseSHA256(t, path(b)) {
				t.Errorf("the SBOM describes %s with sha256 %q", b, apps[b])
			}
		}
		for _, m := range []string{"github.com/imgsign/imgsign", "github.com/urfave/cli/v2", "github.com/sigstore/sigstore-go", "stdlib"} {
			if !libs[m] {
				t.Errorf("the SBOM does not list %s", m)
			}
		}
		st := releaseStatement(t, path(sbomBundle))
		sbom, err := os.ReadFile(path(sbomName))
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if json.Unmarshal(st.Predicate, &a) != nil || json.Unmarshal(sbom, &b) != nil || !releaseSameJSON(a, b) {
			t.Error("the signed SBOM attestation's predicate is not the SBOM file")
		}
	})

	t.Run("binaries", func(t *testing.T) {
		for _, b := range bins {
			info, err := buildinfo.ReadFile(path(b))
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			platform := strings.TrimPrefix(b, name("_"))
			// (-trimpath leaves -ldflags out of the build info.)
			if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"]+"_"+settings["GOARCH"] != platform ||
				settings["vcs.revision"] != "" {
				t.Errorf("%s build settings %v", b, settings)
			}
		}
		host := name("_" + runtime.GOOS + "_" + runtime.GOARCH)
		if _, err := os.Stat(path(host)); err != nil {
			t.Skipf("no release binary for this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)
		}
		r := testenv.Run(t, dist, nil, path(host), "version")
		if r.Code != 0 || !strings.Contains(r.Stdout, releaseVersion) {
			t.Errorf("%s version: exit %d\n%s%s", host, r.Code, r.Stdout, r.Stderr)
		}
		// Release binaries have no cgo, so no PKCS#11, and say so.
		r = testenv.Run(t, dist, nil, path(host), "keys", "public", "--key", "pkcs11:token=t;object=o?module-path=/nonexistent.so")
		if r.Code != 2 || !strings.Contains(r.Stderr, "PKCS#11 keys need the cgo build") || !strings.Contains(r.Stderr, "CGO_ENABLED=1") {
			t.Errorf("a PKCS#11 key with the release binary: exit %d\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		again := t.TempDir()
		cache := t.TempDir()
		r := releaseRun(t, releaseSnapshot(t, root), []string{"VERSION=" + releaseVersion, "DIST=" + again, "PLATFORMS=linux/amd64", "GOCACHE=" + cache},
			"./tools/release/release.sh", "build")
		if r.Code != 0 {
			t.Fatalf("release.sh build: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		b := name("_linux_amd64")
		if x, y := releaseSHA256(t, path(b)), releaseSHA256(t, filepath.Join(again, b)); x != y {
			t.Errorf("two builds of %s from the same source differ: sha256 %s and %s", b, x, y)
		}
	})
}

// releaseRun runs a build in the test's own environment (the Go module
// and build caches, GOPROXY…; testenv.Run's is minimal), for as long as
// four cross-builds take on a busy machine.
func releaseRun(t *testing.T, dir string, env []string, bin string, args ...string) testenv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := testenv.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	return res
}

// releaseSnapshot copies the working tree's files (tracked and untracked,
// not ignored) to a fresh directory without .git: the release is built from
// what is checked out, and builds the same without version control.
func releaseSnapshot(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	out := releaseGit(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, rel := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		o, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
		if err == nil {
			_, err = io.Copy(o, in)
			if cerr := o.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func releaseGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		testenv.Missing(t, "git %s in %s: %v (a git checkout is needed)", strings.Join(args, " "), dir, err)
	}
	return string(out)
}

func releaseSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// releaseSums parses sha256sum's output format: "HEX  NAME" per line.
func releaseSums(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum's format", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

type releaseStmt struct {
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// releaseStatement decodes the in-toto statement inside a bundle file.
func releaseStatement(t *testing.T, bundle string) releaseStmt {
	t.Helper()
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var bu struct {
		MediaType    string `json:"mediaType"`
		DSSEEnvelope struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &bu); err != nil {
		t.Fatalf("%s: %v", bundle, err)
	}
	if bu.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" || bu.DSSEEnvelope.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("%s: media type %q, payload type %q", bundle, bu.MediaType, bu.DSSEEnvelope.PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(bu.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st releaseStmt
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func releaseSameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// attest blob and sbom --file through the CLI, on their own: what cosign
// accepts, and the mistakes refused with exit 2 before any key is used.
func TestAttestBlob(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	a := e.write("a.txt", "first\n")
	e.write("b.txt", "second\n")
	e.write("review.json", `{"reviewer": "alice", "approved": true}`)
	if err := os.MkdirAll(filepath.Join(e.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("sub/a.txt", "other\n")

	r := e.must("attest", "blob", "--key", "k.key", "--type", "https://acme.example/review/v1", "--predicate", "review.json",
		"--bundle", "review.sigstore.json", "--output", "json", "a.txt", "b.txt")
	var res struct {
		Bundle, PredicateType, KeyID string
		Subjects                     []struct{ Name, SHA256 string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	if res.Bundle != "review.sigstore.json" || res.PredicateType != "https://acme.example/review/v1" || len(res.Subjects) != 2 ||
		res.Subjects[0].Name != "a.txt" || res.Subjects[0].SHA256 != releaseSHA256(t, a) {
		t.Errorf("output %s", r.Stdout)
	}
	for _, f := range []string{"a.txt", "b.txt"} {
		c := testenv.Run(t, e.dir, nil, cosign, "verify-blob-attestation", "--bundle", "review.sigstore.json", "--key", "k.pub",
			"--type", "https://acme.example/review/v1", "--insecure-ignore-tlog", f)
		if c.Code != 0 {
			t.Errorf("cosign verify-blob-attestation %s: exit %d\n%s", f, c.Code, c.Stderr)
		}
	}
	if st := releaseStatement(t, filepath.Join(e.dir, "review.sigstore.json")); string(st.Predicate) == "" || !strings.Contains(string(st.Predicate), "alice") {
		t.Errorf("predicate %s", st.Predicate)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no predicate for a type imgsign cannot build", []string{"--type", "spdxjson", "--bundle", "x.json", "a.txt"}, "--predicate FILE is required"},
		{"the plain signature type", []string{"--type", "https://sigstore.dev/cosign/sign/v1", "--predicate", "review.json", "--bundle", "x.json", "a.txt"}, "plain image signature"},
		{"two files named alike", []string{"--type", "custom", "--predicate", "review.json", "--bundle", "x.json", "a.txt", "sub/a.txt"}, `the same name "a.txt"`},
		{"the bundle is an input", []string{"--type", "custom", "--predicate", "review.json", "--bundle", "a.txt", "a.txt"}, "is one of the files attested"},
		{"provenance flags with a predicate", []string{"--type", "slsaprovenance1", "--predicate", "review.json", "--builder-id", "https://ci.example.com", "--bundle", "x.json", "a.txt"}, "not used with --predicate"},
		{"provenance outside CI without a builder", []string{"--type", "slsaprovenance1", "--source-repo", "https://github.com/acme/app", "--source-commit", strings.Repeat("a", 40), "--bundle", "x.json", "a.txt"}, "no builder id"},
		{"no files", []string{"--type", "custom", "--predicate", "review.json", "--bundle", "x.json"}, "missing FILE"},
		{"a missing file", []string{"--type", "custom", "--predicate", "review.json", "--bundle", "x.json", "nope.txt"}, "nope.txt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := testenv.Run(t, e.dir, []string{"IMGSIGN_PASSWORD=" + passphrase, "GITHUB_ACTIONS=", "GITLAB_CI="}, e.bin,
				append([]string{"attest", "blob", "--key", "k.key"}, tt.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, want 2 with %q\n%s", r.Code, tt.want, r.Stderr)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "x.json")); !os.IsNotExist(err) {
				t.Errorf("a refused run wrote the bundle (%v)", err)
			}
		})
	}

	t.Run("sbom --file", func(t *testing.T) {
		r := testenv.Run(t, e.dir, []string{"SOURCE_DATE_EPOCH=" + releaseEpoch}, e.bin, "sbom", "--file", e.bin, "--file", "a.txt")
		if r.Code != 0 || !strings.Contains(r.Stderr, "a.txt has no Go build info") {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		doc, err := spdxjson.Read(strings.NewReader(r.Stdout))
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, p := range doc.Packages {
			names[p.PackageName] = p.PrimaryPackagePurpose
		}
		if names["imgsign"] != "APPLICATION" || names["a.txt"] != "FILE" || names["github.com/imgsign/imgsign"] != "LIBRARY" || doc.CreationInfo.Created != "2025-12-01T00:00:00Z" {
			t.Errorf("packages %v, created %s", names, doc.CreationInfo.Created)
		}
		for _, bad := range [][]string{
			{"sbom", "--file", "a.txt", "--format", "cyclonedx"},
			{"sbom", "--file", "a.txt", "registry.example.com/app:1"},
		} {
			if r := testenv.Run(t, e.dir, nil, e.bin, bad...); r.Code != 2 {
				t.Errorf("%v: exit %d, want 2\n%s", bad, r.Code, r.Stderr)
			}
		}
		if r := testenv.Run(t, e.dir, []string{"SOURCE_DATE_EPOCH=yesterday"}, e.bin, "sbom", "--file", "a.txt"); r.Code != 2 || !strings.Contains(r.Stderr, "SOURCE_DATE_EPOCH") {
			t.Errorf("a bad SOURCE_DATE_EPOCH: exit %d\n%s", r.Code, r.Stderr)
		}
	})
}

// checkReleaseImage checks the release's OCI image layout: an index tagged
// with the version, one image per linux platform, each running the
// platform's release binary as an unprivileged user.
func checkReleaseImage(t *testing.T, dir, amd64Binary string) {
	t.Helper()
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	om, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(om.Manifests) != 1 || om.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != releaseVersion {
		t.Fatalf("index.json: %+v", om.Manifests)
	}
	idx, err := outer.ImageIndex(om.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if strings.Join(plats, " ") != "linux/amd64 linux/arm64" {
		t.Fatalf("platforms %v", plats)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/imgsign" || cfg.Config.User != "65532:65532" || cfg.Config.Labels["org.opencontainers.image.version"] != releaseVersion {
		t.Errorf("config: %+v", cfg.Config)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no usr/local/bin/imgsign in the image: %v", err)
		}
		if h.Name != "usr/local/bin/imgsign" {
			continue
		}
		if h.Mode&0o111 == 0 {
			t.Errorf("the binary is not executable: %o", h.Mode)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(amd64Binary)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Error("the image's linux/amd64 binary is not the release's")
		}
		return
	}
}
