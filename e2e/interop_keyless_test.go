package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// The workflow cosign's certificate names in the keyless interop test, and
// its commit.
const (
	interopCommit = "9f3b5c1d2e4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c"
	otherWorkflow = "https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main"
)

// interopIdentity is a GitHub Actions workflow identity as Fulcio issues
// it: the SAN, the issuer, the current claims and the deprecated
// 1.3.6.1.4.1.57264.1.2–.6 ones cosign's --certificate-github-workflow-*
// flags read.
func interopIdentity() fakesigstore.Identity {
	return fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: certificate.Extensions{
		GithubWorkflowTrigger:    "push",
		GithubWorkflowSHA:        interopCommit,
		GithubWorkflowName:       "release",
		GithubWorkflowRepository: "acme/app",
		GithubWorkflowRef:        "refs/tags/v1.0.0",
		BuildSignerURI:           ghWorkflow,
		BuildSignerDigest:        interopCommit,
		RunnerEnvironment:        "github-hosted",
		SourceRepositoryURI:      "https://github.com/acme/app",
		SourceRepositoryDigest:   interopCommit,
		SourceRepositoryRef:      "refs/tags/v1.0.0",
		BuildConfigURI:           ghWorkflow,
		BuildConfigDigest:        interopCommit,
		BuildTrigger:             "push",
		RunInvocationURI:         "https://github.com/acme/app/actions/runs/1/attempts/1",
	}}
}

// interopPolicy trusts one workflow identity of acme/app under the test
// Sigstore's trust root (no log: requireTransparencyLog defaults to false).
func (e *env) interopPolicy(file, host, root, subject string) string {
	e.t.Helper()
	return e.write(file, `version: 1
trustRoots:
  - name: ci
    file: `+root+`
identities:
  - name: release
    issuer: `+ghIssuer+`
    subject: `+subject+`
    claims:
      sourceRepository: https://github.com/acme/app
      sourceRef: refs/tags/v1.0.0
      sourceDigest: `+interopCommit+`
      buildSignerURI: `+ghWorkflow+`
      runnerEnvironment: github-hosted
      event: push
    trustRoots: [ci]
policies:
  - name: keyless
    scopes: ["`+host+`/**"]
    signatures:
      keys: [release]
`)
}

// cosign v3 signs an image with its own key and a certificate the test
// Sigstore's Fulcio CA issued for that key (a GitHub workflow identity), no
// transparency log, an RFC 3161 timestamp from the test TSA served over
// HTTP; imgsign verifies it through a trust root describing that CA and TSA
// (and rejects it for another workflow), and cosign verify accepts the same
// image under the same trust root, on both kinds of registry. The
// certificate is given alone and with its chain (the issue's `--certificate
// … --certificate-chain …`; cosign then writes the chain into the bundle).
func TestKeylessInterop(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			fs := fakesigstore.New(t)
			tsaURL := fs.ServeTSA(t)
			cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}
			cosignRun := func(args ...string) testenv.Result {
				t.Helper()
				return testenv.Run(t, e.dir, cosignEnv, cosign, args...)
			}

			// cosign's own key pair; the certificate is for its public key.
			if r := cosignRun("generate-key-pair", "--output-key-prefix", "k"); r.Code != 0 {
				t.Fatalf("cosign generate-key-pair: exit %d\n%s", r.Code, r.Stderr)
			}
			leaf := fs.Certificate(t, readPublicKey(t, filepath.Join(e.dir, "k.pub")), interopIdentity())
			e.write("leaf.pem", string(fakesigstore.PEM(leaf)))
			e.write("chain.pem", string(fakesigstore.PEM(fs.FulcioIntermediate(), fs.FulcioRoot())))
			// The Fulcio CA (root and intermediate), the CT log that signed
			// the certificate's SCT and the TSA; no Rekor, as nothing is logged.
			fs.WriteTrustedRoot(t, filepath.Join(e.dir, "root.json"), fakesigstore.WithoutRekor())
			// The same without the TSA: nothing then vouches for the time.
			fs.WriteTrustedRoot(t, filepath.Join(e.dir, "root-no-tsa.json"), fakesigstore.WithoutRekor(), fakesigstore.WithoutTSA())
			// A signing config naming only the TSA: cosign's non-deprecated
			// way to sign without a log (--tlog-upload=false and
			// --timestamp-server-url are deprecated in v3).
			if r := cosignRun("signing-config", "create",
				"--tsa", "url="+tsaURL+",api-version=1,start-time="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+",operator=fakesigstore.test",
				"--tsa-config", "ANY", "--out", "signing-config.json"); r.Code != 0 {
				t.Fatalf("cosign signing-config create: exit %d\n%s", r.Code, r.Stderr)
			}
			pass := e.interopPolicy("pass.yaml", host, "root.json", ghWorkflow)
			fail := e.interopPolicy("other.yaml", host, "root.json", otherWorkflow)
			noTSA := e.interopPolicy("no-tsa.yaml", host, "root-no-tsa.json", ghWorkflow)

			for _, tc := range []struct {
				name      string
				chain     bool
				signFlags []string
			}{
				{"certificate", false, []string{"--certificate", "leaf.pem", "--signing-config", "signing-config.json"}},
				// cosign puts leaf and intermediate in the v0.3 bundle's
				// x509CertificateChain (v0.3 names a certificate alone):
				// sigstore-go reads that only with bundle.AllowCertificateChain,
				// cosign verify only with --allow-certificate-chain (without it
				// it finds "no signatures").
				{"certificate and chain", true, []string{"--certificate", "leaf.pem", "--certificate-chain", "chain.pem", "--signing-config", "signing-config.json"}},
				// The deprecated flags many pipelines still use write the same bundle.
				{"certificate, deprecated flags", false, []string{"--certificate", "leaf.pem",
					"--use-signing-config=false", "--tlog-upload=false", "--timestamp-server-url", tsaURL}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					repo := "keyless-by-cosign/" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
					d := testenv.PushImage(t, host, repo, "v1")
					img := digestRef(host, repo, d)

					// --trusted-root also makes cosign verify its bundle right
					// after signing (sigstore-go, against that root).
					args := append([]string{"sign", "--key", "k.key"}, tc.signFlags...)
					args = append(args, "--trusted-root", "root.json", "--allow-insecure-registry", "-y", img)
					if r := cosignRun(args...); r.Code != 0 {
						t.Fatalf("cosign sign: exit %d\n%s", r.Code, r.Stderr)
					}
					checkCosignKeylessBundle(t, host, repo, d, leaf, tc.chain)

					t.Run("imgsign verify, the workflow", func(t *testing.T) {
						rep, r := e.verifyJSON(pass, img)
						if r.Code != 0 {
							t.Fatalf("imgsign verify of cosign's keyless signature: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
						}
						acc := rep.Images[0].Requirements[0].Accepted
						if len(acc) != 1 || acc[0].Identity == nil || acc[0].Identity.Subject != ghWorkflow ||
							acc[0].Identity.Issuer != ghIssuer || acc[0].Identity.SourceDigest != interopCommit {
							t.Fatalf("the report does not show the certificate identity:\n%s", r.Stdout)
						}
						if !strings.HasPrefix(acc[0].TimeSource, "rfc3161:") || acc[0].SignedAt == "" {
							t.Fatalf("time source %q, signed at %q: want the TSA's timestamp\n%s", acc[0].TimeSource, acc[0].SignedAt, r.Stdout)
						}
						text := e.run("verify", "--policy", pass, img)
						if text.Code != 0 || !strings.Contains(text.Stdout, "PASS") || !strings.Contains(text.Stdout, "certificate for "+ghWorkflow) {
							t.Fatalf("imgsign verify (text): exit %d\n%s%s", text.Code, text.Stdout, text.Stderr)
						}
					})
					t.Run("imgsign verify, another workflow", func(t *testing.T) {
						r := e.run("verify", "--policy", fail, img)
						want := `certificate subject "` + ghWorkflow + `" is not "` + otherWorkflow + `"`
						if r.Code != 1 || !strings.Contains(r.Stdout, "FAIL") || !strings.Contains(r.Stdout, want) {
							t.Fatalf("imgsign verify for %s: exit %d, want 1 with %q\n%s%s", otherWorkflow, r.Code, want, r.Stdout, r.Stderr)
						}
					})

					t.Run("imgsign verify, trust root without the TSA", func(t *testing.T) {
						r := e.run("verify", "--policy", noTSA, img)
						if r.Code != 1 || !strings.Contains(r.Stdout, "does not verify under the policy's trust roots") || !strings.Contains(r.Stdout, "failed to verify timestamps") {
							t.Fatalf("imgsign verify with no TSA in the root: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
						}
					})

					// cosign verify checks the chain to the root's Fulcio CA,
					// the embedded SCT against the root's CT log and the RFC 3161
					// timestamp against its TSA. Without a log entry it needs
					// --insecure-ignore-tlog (otherwise it requires one and the
					// log's integrated time) and --use-signed-timestamps (to take
					// the certificate's time from the TSA instead); SCTs are
					// checked (no --insecure-ignore-sct). A v0.3 bundle holding
					// a chain needs --allow-certificate-chain.
					cosignVerify := func(root string, args ...string) testenv.Result {
						t.Helper()
						flags := []string{"verify", "--trusted-root", root, "--certificate-oidc-issuer", ghIssuer,
							"--insecure-ignore-tlog", "--use-signed-timestamps", "--allow-insecure-registry"}
						if tc.chain {
							flags = append(flags, "--allow-certificate-chain")
						}
						return cosignRun(append(append(flags, args...), img)...)
					}
					t.Run("cosign verify, the workflow", func(t *testing.T) {
						r := cosignVerify("root.json", "--certificate-identity", ghWorkflow,
							"--certificate-github-workflow-repository", "acme/app",
							"--certificate-github-workflow-trigger", "push",
							"--certificate-github-workflow-sha", interopCommit)
						if r.Code != 0 || !strings.Contains(r.Stderr, "The code-signing certificate was verified using trusted certificate authority certificates") {
							t.Fatalf("cosign verify: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
						}
					})
					t.Run("cosign verify, trust root without the TSA", func(t *testing.T) {
						r := cosignVerify("root-no-tsa.json", "--certificate-identity", ghWorkflow)
						if r.Code == 0 || !strings.Contains(r.Stderr, "failed to verify timestamps") {
							t.Fatalf("cosign verify with no TSA in the root: exit %d, want a timestamp failure\n%s", r.Code, r.Stderr)
						}
					})
					t.Run("cosign verify, another workflow", func(t *testing.T) {
						r := cosignVerify("root.json", "--certificate-identity", otherWorkflow)
						if r.Code == 0 || !strings.Contains(r.Stderr, `expected SAN value "`+otherWorkflow+`", got "`+ghWorkflow+`"`) {
							t.Fatalf("cosign verify for %s: exit %d, want a SAN mismatch\n%s\n%s", otherWorkflow, r.Code, r.Stdout, r.Stderr)
						}
					})
				})
			}
		})
	}
}

// readPublicKey reads a PEM public key file (cosign's k.pub).
func readPublicKey(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pub
}

// checkCosignKeylessBundle checks what cosign wrote: exactly one referrer
// of repo@d, a Sigstore bundle v0.3 carrying the leaf (alone, or with the
// intermediate when chain), an RFC 3161 timestamp and no log entry; and no
// legacy .sig tag.
func checkCosignKeylessBundle(t *testing.T, host, repo string, d v1.Hash, leaf *x509.Certificate, chain bool) {
	t.Helper()
	ref, err := name.NewDigest(digestRef(host, repo, d), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if strings.HasSuffix(tag, ".sig") {
			t.Fatalf("cosign wrote the legacy signature tag %s, not a bundle referrer", tag)
		}
	}
	idx, err := remote.Referrers(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("referrers of %s: want one, got %+v", ref, im.Manifests)
	}
	// The manifest's artifactType is the bundle's media type (the
	// registries' descriptors report the empty config's instead).
	desc, err := remote.Get(ref.Context().Digest(im.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		ArtifactType string          `json:"artifactType"`
		Layers       []v1.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(desc.Manifest, &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.ArtifactType != fakesigstore.MediaTypeV03 || len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != fakesigstore.MediaTypeV03 {
		t.Fatalf("cosign's referrer is not one Sigstore bundle v0.3:\n%s", desc.Manifest)
	}
	layer, err := remote.Layer(ref.Context().Digest(manifest.Layers[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			Certificate *struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificate"`
			X509CertificateChain *struct {
				Certificates []struct {
					RawBytes []byte `json:"rawBytes"`
				} `json:"certificates"`
			} `json:"x509CertificateChain"`
			TlogEntries               []json.RawMessage `json:"tlogEntries"`
			TimestampVerificationData struct {
				RFC3161Timestamps []json.RawMessage `json:"rfc3161Timestamps"`
			} `json:"timestampVerificationData"`
		} `json:"verificationMaterial"`
		DSSEEnvelope *json.RawMessage `json:"dsseEnvelope"`
	}
	if err := json.NewDecoder(rc).Decode(&b); err != nil {
		t.Fatalf("bundle referrer: %v", err)
	}
	vm := b.VerificationMaterial
	var certs [][]byte
	switch {
	case vm.Certificate != nil:
		certs = [][]byte{vm.Certificate.RawBytes}
	case vm.X509CertificateChain != nil:
		for _, c := range vm.X509CertificateChain.Certificates {
			certs = append(certs, c.RawBytes)
		}
	}
	wantCerts := 1
	if chain {
		wantCerts = 2 // leaf and intermediate; cosign leaves the self-signed root out
	}
	if b.MediaType != fakesigstore.MediaTypeV03 || b.DSSEEnvelope == nil || len(certs) != wantCerts || string(certs[0]) != string(leaf.Raw) ||
		chain != (vm.X509CertificateChain != nil) || len(vm.TlogEntries) != 0 || len(vm.TimestampVerificationData.RFC3161Timestamps) != 1 {
		t.Fatalf("cosign's bundle: media type %q, DSSE %v, %d certificates (chain field %v), %d log entries, %d RFC 3161 timestamps",
			b.MediaType, b.DSSEEnvelope != nil, len(certs), vm.X509CertificateChain != nil, len(vm.TlogEntries), len(vm.TimestampVerificationData.RFC3161Timestamps))
	}
}
