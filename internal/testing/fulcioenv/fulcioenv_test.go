package fulcioenv_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// TestKeylessSignVerify signs a DSSE statement the keyless way with
// sigstore-go — an ID token from the test issuer, a certificate from the real
// Fulcio for an ephemeral key, a timestamp from the real TSA — and verifies
// the bundle against the trusted root Start wrote, with the certificate
// carrying the GitHub workflow's claims as Fulcio's extensions.
func TestKeylessSignVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio and the timestamp authority; run make test")
	}
	tsaURL, tsaChain := testenv.TSA(t)
	f := fulcioenv.Start(t, fulcioenv.WithTSA(tsaURL, tsaChain))

	// The files Start wrote are what a signer and a verifier read.
	tr, err := root.NewTrustedRootFromPath(f.TrustedRootPath)
	if err != nil {
		t.Fatalf("reading %s: %v", f.TrustedRootPath, err)
	}
	if n := len(tr.FulcioCertificateAuthorities()); n != 1 {
		t.Fatalf("trusted root: %d certificate authorities, want 1", n)
	}
	if n := len(tr.TimestampingAuthorities()); n != 1 {
		t.Fatalf("trusted root: %d timestamping authorities, want 1", n)
	}
	sc, err := root.NewSigningConfigFromPath(f.SigningConfigPath)
	if err != nil {
		t.Fatalf("reading %s: %v", f.SigningConfigPath, err)
	}
	now := time.Now()
	caSvc, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil || caSvc.URL != f.URL {
		t.Fatalf("signing config's Fulcio: %+v, %v; want %s", caSvc, err, f.URL)
	}
	oidcSvc, err := root.SelectService(sc.OIDCProviderURLs(), []uint32{1}, now)
	if err != nil || oidcSvc.URL != f.Issuer.URL() {
		t.Fatalf("signing config's OIDC issuer: %+v, %v; want %s", oidcSvc, err, f.Issuer.URL())
	}
	tsaSvcs, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now)
	if err != nil || len(tsaSvcs) != 1 || tsaSvcs[0].URL != tsaURL {
		t.Fatalf("signing config's TSAs: %+v, %v; want %s", tsaSvcs, err, tsaURL)
	}
	if n := len(sc.RekorLogURLs()); n != 0 {
		t.Fatalf("signing config names %d Rekor logs, want none", n)
	}

	subject := []byte("an image manifest")
	digest := sha256.Sum256(subject)
	statement := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/acme/app","digest":{"sha256":%q}}],"predicateType":"https://example.com/test/v1","predicate":{}}`, hex.EncodeToString(digest[:]))

	keypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: []byte(statement), PayloadType: "application/vnd.in-toto+json"}, keypair, sign.BundleOptions{
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: caSvc.URL}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: f.Token(t)},
		TimestampAuthorities:       []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: tsaSvcs[0].URL})},
		TrustedRoot:                tr,
		Context:                    context.Background(),
	})
	if err != nil {
		t.Fatalf("signing: %v\nFulcio's log:\n%s", err, f.Logs())
	}
	// Round-trip the bundle through its JSON, as it is stored.
	b, err := bundle.NewBundle(pb)
	if err != nil {
		t.Fatal(err)
	}
	js, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var loaded bundle.Bundle
	if err := loaded.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}

	w := oidctest.DefaultWorkflow()
	san := "https://github.com/" + w.Repository + "/" + w.Workflow + "@" + w.Ref
	id, err := verify.NewShortCertificateIdentity(f.Issuer.URL(), "", san, "")
	if err != nil {
		t.Fatal(err)
	}
	policy := verify.NewPolicy(verify.WithArtifactDigest("sha256", digest[:]), verify.WithCertificateIdentity(id))
	for name, opt := range map[string]verify.VerifierOption{
		"signed timestamps":   verify.WithSignedTimestamps(1),
		"observer timestamps": verify.WithObserverTimestamps(1),
	} {
		t.Run(name, func(t *testing.T) {
			v, err := verify.NewVerifier(tr, opt)
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(&loaded, policy)
			if err != nil {
				t.Fatalf("verifying: %v", err)
			}
			if len(res.VerifiedTimestamps) != 1 || res.VerifiedTimestamps[0].Type != "TimestampAuthority" {
				t.Fatalf("verified timestamps: %+v", res.VerifiedTimestamps)
			}
		})
	}

	// A different identity does not verify: the policy bites.
	other, _ := verify.NewShortCertificateIdentity(f.Issuer.URL(), "", "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1.0", "")
	v, err := verify.NewVerifier(tr, verify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&loaded, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest[:]), verify.WithCertificateIdentity(other))); err == nil {
		t.Fatal("verified against another workflow's identity")
	}

	// The certificate: Fulcio's CA issued it, and the github-workflow issuer
	// type put the token's claims in Fulcio's extensions.
	vc, err := loaded.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	cert := vc.Certificate()
	if cert == nil {
		t.Fatal("the bundle holds no certificate")
	}
	if err := cert.CheckSignatureFrom(f.CAChain[0]); err != nil {
		t.Fatalf("the certificate is not from Fulcio's CA: %v", err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d > 11*time.Minute {
		t.Errorf("certificate valid for %v, want Fulcio's 10 minutes", d)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning {
		t.Errorf("extended key usage %v, want code signing", cert.ExtKeyUsage)
	}
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	gh := "https://github.com/"
	want := map[string][2]string{
		"SAN":                                 {sum.SubjectAlternativeName, san},
		"Issuer":                              {sum.Issuer, f.Issuer.URL()},
		"GithubWorkflowTrigger":               {sum.GithubWorkflowTrigger, w.EventName},
		"GithubWorkflowSHA":                   {sum.GithubWorkflowSHA, w.SHA},
		"GithubWorkflowName":                  {sum.GithubWorkflowName, "release"},
		"GithubWorkflowRepository":            {sum.GithubWorkflowRepository, w.Repository},
		"GithubWorkflowRef":                   {sum.GithubWorkflowRef, w.Ref},
		"BuildSignerURI":                      {sum.BuildSignerURI, san},
		"BuildSignerDigest":                   {sum.BuildSignerDigest, w.WorkflowSHA},
		"RunnerEnvironment":                   {sum.RunnerEnvironment, "github-hosted"},
		"SourceRepositoryURI":                 {sum.SourceRepositoryURI, gh + w.Repository},
		"SourceRepositoryDigest":              {sum.SourceRepositoryDigest, w.SHA},
		"SourceRepositoryRef":                 {sum.SourceRepositoryRef, w.Ref},
		"SourceRepositoryIdentifier":          {sum.SourceRepositoryIdentifier, w.RepositoryID},
		"SourceRepositoryOwnerURI":            {sum.SourceRepositoryOwnerURI, gh + "acme"},
		"SourceRepositoryOwnerIdentifier":     {sum.SourceRepositoryOwnerIdentifier, w.RepositoryOwnerID},
		"BuildConfigURI":                      {sum.BuildConfigURI, san},
		"BuildConfigDigest":                   {sum.BuildConfigDigest, w.WorkflowSHA},
		"BuildTrigger":                        {sum.BuildTrigger, "push"},
		"RunInvocationURI":                    {sum.RunInvocationURI, gh + w.Repository + "/actions/runs/" + w.RunID + "/attempts/1"},
		"SourceRepositoryVisibilityAtSigning": {sum.SourceRepositoryVisibilityAtSigning, "public"},
	}
	for field, gw := range want {
		if gw[0] != gw[1] {
			t.Errorf("certificate %s = %q, want %q", field, gw[0], gw[1])
		}
	}
}

// TestReusableWorkflow: a job running a reusable workflow is certified as
// that workflow (Build Signer URI and SAN), built from the caller's
// repository (Source Repository, Build Config).
func TestReusableWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio; run make test")
	}
	f := fulcioenv.Start(t)
	w := oidctest.DefaultWorkflow()
	w.JobWorkflowRef = "imgsign/imgsign/.github/workflows/imgsign.yml@refs/tags/v2.0.0"
	w.JobWorkflowSHA = "fedcba9876543210fedcba9876543210fedcba98"
	w.Environment = "production"
	cert := certificateFor(t, f, f.Token(t, oidctest.ForWorkflow(w)))
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	signer := "https://github.com/" + w.JobWorkflowRef
	if sum.SubjectAlternativeName != signer || sum.BuildSignerURI != signer || sum.BuildSignerDigest != w.JobWorkflowSHA {
		t.Errorf("signer: SAN %q, Build Signer %q @ %q; want %q @ %q", sum.SubjectAlternativeName, sum.BuildSignerURI, sum.BuildSignerDigest, signer, w.JobWorkflowSHA)
	}
	if want := "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0"; sum.BuildConfigURI != want {
		t.Errorf("Build Config URI %q, want %q", sum.BuildConfigURI, want)
	}
	if sum.SourceRepositoryURI != "https://github.com/acme/app" {
		t.Errorf("Source Repository URI %q", sum.SourceRepositoryURI)
	}
}

// TestActionsRunnerToken: a token fetched as on a GitHub Actions runner
// (ACTIONS_ID_TOKEN_REQUEST_*, by imgsign's own provenance.GitHubTokenSource,
// audience sigstore) gets a Fulcio certificate for the workflow.
func TestActionsRunnerToken(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio; run make test")
	}
	f := fulcioenv.Start(t)
	env := map[string]string{}
	for _, kv := range f.Issuer.ActionsEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	src, ok := provenance.GitHubTokenSourceFromEnv(provenance.MapEnv(env))
	if !ok {
		t.Fatal("the runner's token endpoint is not offered")
	}
	token, err := src.Token(context.Background(), oidctest.Audience)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := certificate.SummarizeCertificate(certificateFor(t, f, token))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0"; sum.SubjectAlternativeName != want {
		t.Errorf("SAN %q, want %q", sum.SubjectAlternativeName, want)
	}
}

// TestES256Issuer: Fulcio verifies an issuer's ES256 tokens as well.
func TestES256Issuer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio; run make test")
	}
	f := fulcioenv.Start(t, fulcioenv.WithIssuer(oidctest.Start(t, oidctest.WithAlgorithm(oidctest.ES256))))
	certificateFor(t, f, f.Token(t))
}

// TestRefused: Fulcio refuses an expired token, one from an issuer it does
// not trust, one for another audience, one signed by another key, and a
// GitHub token without the claims its github-workflow type needs.
func TestRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio; run make test")
	}
	untrusted := oidctest.Start(t)
	f := fulcioenv.Start(t)
	certificateFor(t, f, f.Token(t)) // the baseline is accepted

	// An issuer with the same URL as the trusted one but another key: a
	// token it signs names the trusted issuer and does not verify.
	impostor := oidctest.Start(t)
	claims := oidctest.DefaultWorkflow().Claims()
	claims["iss"], claims["aud"] = f.Issuer.URL(), oidctest.Audience
	claims["iat"], claims["exp"] = time.Now().Unix(), time.Now().Add(5*time.Minute).Unix()
	forged, err := impostor.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	// Fulcio answers every refusal alike (400, "There was an error
	// processing the identity token"); its log says why, and each row checks
	// it was refused for its own reason.
	for _, tc := range []struct{ name, token, reason string }{
		{"expired", f.Token(t, oidctest.Expired()), "oidc: token is expired"},
		{"not yet valid", f.Token(t, oidctest.IssuedAt(time.Now().Add(time.Hour))), "before the nbf (not before) time"},
		{"untrusted issuer", untrusted.Token(t), "failed to match issuer URL " + untrusted.URL() + " from token with any configured providers"},
		{"other audience", f.Token(t, oidctest.WithAudience("not-sigstore")), `oidc: expected audience "sigstore"`},
		{"signed by another key", forged, "failed to verify id token signature"},
		{"without job_workflow_ref", f.Token(t, oidctest.WithoutClaim("job_workflow_ref")), "missing job_workflow_ref claim in ID token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keypair, err := sign.NewEphemeralKeypair(nil)
			if err != nil {
				t.Fatal(err)
			}
			before := len(f.Logs())
			_, err = sign.NewFulcio(&sign.FulcioOptions{BaseURL: f.URL}).GetCertificate(context.Background(), keypair, &sign.CertificateProviderOptions{IDToken: tc.token})
			if err == nil {
				t.Fatal("Fulcio issued a certificate")
			}
			if !strings.Contains(err.Error(), "Fulcio returned 400") {
				t.Fatalf("want 400 from Fulcio, got: %v", err)
			}
			// The log comes through a pipe: it may lag behind the answer.
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(f.Logs()[before:], tc.reason); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("Fulcio refused the token, but not because %q: %v\nFulcio's log:\n%s", tc.reason, err, f.Logs()[before:])
				}
			}
		})
	}
}

func certificateFor(t *testing.T, f *fulcioenv.Fulcio, token string) *x509.Certificate {
	t.Helper()
	keypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := sign.NewFulcio(&sign.FulcioOptions{BaseURL: f.URL}).GetCertificate(context.Background(), keypair, &sign.CertificateProviderOptions{IDToken: token})
	if err != nil {
		t.Fatalf("getting a certificate: %v\nFulcio's log:\n%s", err, f.Logs())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(f.CAChain[0]); err != nil {
		t.Fatalf("the certificate is not from Fulcio's CA: %v", err)
	}
	return cert
}
