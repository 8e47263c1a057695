package sign

// Keyless signing: an ephemeral key that never leaves memory, a short-lived
// Fulcio certificate for the CI's OIDC identity, RFC 3161 timestamps and
// transparency-log entries from the services a Sigstore signing config
// names — all through sigstore-go's pkg/sign. The bundle carries the
// certificate where a key-signed one carries the key's hint, and is stored
// exactly like one.

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/idtoken"
)

// Keyless is a Signer that signs with an ephemeral key certified by Fulcio.
// Bundle recognises it and asks its certificate authority, timestamp
// authorities and transparency logs.
type Keyless struct {
	*sgsign.EphemeralKeypair
	token  *idtoken.Token
	fulcio sgsign.CertificateProvider
	tsas   []*sgsign.TimestampAuthority
	tlogs  []sgsign.Transparency
	// trusted, when set, verifies each bundle before it is pushed: the
	// certificate chains to it and the timestamps and log entries are its.
	trusted root.TrustedMaterial
	// Services names the services used, for messages and the Action's
	// summary.
	Services KeylessServices

	mu       sync.Mutex
	identity string
}

// KeylessServices are the URLs a keyless signer uses.
type KeylessServices struct {
	Fulcio string   `json:"fulcio"`
	TSAs   []string `json:"tsas,omitempty"`
	Logs   []string `json:"transparencyLogs,omitempty"`
}

// KeylessOptions configure NewKeyless.
type KeylessOptions struct {
	// Token is the OIDC identity token (idtoken.Get).
	Token *idtoken.Token
	// Config is the Sigstore signing config naming the services.
	Config *root.SigningConfig
	// Trusted, when set, is the trust root the services' answers are
	// verified against before anything is pushed.
	Trusted root.TrustedMaterial
	// ExtraTSA is --tsa-url: a timestamp authority beyond the config's.
	ExtraTSA string
	// NoTlog leaves the transparency log out even when the config names
	// one (a private deployment without a log, or TSA-only signing).
	NoTlog bool
	Now    func() time.Time
}

// NewKeyless selects the services of o.Config valid now and makes the
// ephemeral key. A config naming no certificate authority, or a signer
// left with neither a timestamp authority nor a log (whose certificate
// would be judged by nothing after it expires in minutes), is an
// errkind.Input error.
func NewKeyless(o KeylessOptions) (*Keyless, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.Token == nil {
		return nil, errkind.Inputf("keyless signing needs an OIDC identity token")
	}
	ca, err := root.SelectService(o.Config.FulcioCertificateAuthorityURLs(), []uint32{1}, now())
	if err != nil {
		return nil, errkind.Inputf("the signing config names no Fulcio certificate authority valid now: %w", err)
	}
	k := &Keyless{token: o.Token, trusted: o.Trusted}
	k.fulcio = fulcioStage{sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: ca.URL, Timeout: 30 * time.Second, Retries: 2})}
	k.Services.Fulcio = ca.URL
	if tsas := o.Config.TimestampAuthorityURLs(); len(tsas) > 0 {
		chosen, err := root.SelectServices(tsas, o.Config.TimestampAuthorityURLsConfig(), []uint32{1}, now())
		if err != nil {
			return nil, errkind.Inputf("the signing config's timestamp authorities: %w", err)
		}
		for _, s := range chosen {
			k.addTSA(s.URL)
		}
	}
	if o.ExtraTSA != "" && !strings.Contains(strings.Join(k.Services.TSAs, "\n"), o.ExtraTSA) {
		k.addTSA(o.ExtraTSA)
	}
	if logs := o.Config.RekorLogURLs(); len(logs) > 0 && !o.NoTlog {
		chosen, err := root.SelectServices(logs, o.Config.RekorLogURLsConfig(), []uint32{1, 2}, now())
		if err != nil {
			return nil, errkind.Inputf("the signing config's transparency logs: %w", err)
		}
		for _, s := range chosen {
			k.tlogs = append(k.tlogs, logStage{sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: s.URL, Timeout: 30 * time.Second, Retries: 2, Version: s.MajorAPIVersion})})
			k.Services.Logs = append(k.Services.Logs, s.URL)
		}
	}
	if len(k.tsas) == 0 && len(k.tlogs) == 0 {
		return nil, errkind.Inputf("keyless signing needs a timestamp authority or a transparency log (the certificate expires in minutes; one of them proves the signature was made before): the signing config names neither; add --tsa-url")
	}
	if k.EphemeralKeypair, err = sgsign.NewEphemeralKeypair(nil); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyless) addTSA(url string) {
	k.tsas = append(k.tsas, sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: url, Timeout: 30 * time.Second, Retries: 2,
		Transport: tsaStage{http.DefaultTransport}}))
	k.Services.TSAs = append(k.Services.TSAs, url)
}

// ID names the signer in output: the certificate's identity once one was
// issued, the token's subject before.
func (k *Keyless) ID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.identity != "" {
		return k.identity
	}
	return "keyless " + k.token.Subject
}

// Identity is the subject (SAN) and issuer of the last certificate Fulcio
// issued, "" before the first.
func (k *Keyless) Identity() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.identity
}

// bundle signs content keylessly: Fulcio certifies the ephemeral key for
// the token's identity, the TSAs timestamp the signature and the logs
// record it; with a trust root, sigstore-go verifies the result before it
// is returned. Any service failing fails the whole signature: nothing
// half-signed is returned, so nothing half-signed is pushed.
func (k *Keyless) bundle(ctx context.Context, content sgsign.Content) (*protobundle.Bundle, error) {
	opts := sgsign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        k.fulcio,
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{IDToken: k.token.Raw},
		TimestampAuthorities:       k.tsas,
		TransparencyLogs:           k.tlogs,
		TrustedRoot:                k.trusted,
	}
	pb, err := sgsign.Bundle(content, k, opts)
	if err != nil {
		return nil, keylessError(err, k.Services)
	}
	if der := pb.GetVerificationMaterial().GetCertificate().GetRawBytes(); der != nil {
		if c, err := x509.ParseCertificate(der); err == nil {
			if s, err := certificate.SummarizeCertificate(c); err == nil {
				k.mu.Lock()
				k.identity = s.SubjectAlternativeName + " (issuer " + s.Extensions.Issuer + ")"
				k.mu.Unlock()
			}
		}
	}
	return pb, nil
}

// keylessError says which service failed and how: Fulcio refusing the
// request (a 4xx: the token) is bad input, anything else operational. The
// service is known from where the error came from (fulcioStage, tsaStage,
// logStage) or from sigstore-go's own "timestamp authority returned",
// never guessed from the text, which holds URLs and ports
// ("127.0.0.1:40141" is not a 401).
func keylessError(err error, s KeylessServices) error {
	var st *stageError
	if errors.As(err, &st) {
		switch st.stage {
		case "fulcio":
			if code, ok := fulcioStatus(st.err); ok && code >= 400 && code < 500 && code != http.StatusTooManyRequests {
				return errkind.Inputf("Fulcio at %s refused the identity token: %w (a token for audience sigstore from an issuer it trusts, not expired)", s.Fulcio, st.err)
			}
			return errkind.Operationalf("getting a certificate from Fulcio at %s: %w", s.Fulcio, st.err)
		case "tsa":
			return errkind.Operationalf("getting an RFC 3161 timestamp from %s: %w", strings.Join(s.TSAs, ", "), err)
		case "log":
			return errkind.Operationalf("recording the signature in the transparency log %s: %w", strings.Join(s.Logs, ", "), st.err)
		}
	}
	if strings.HasPrefix(err.Error(), "timestamp authority returned ") {
		return errkind.Operationalf("getting an RFC 3161 timestamp from %s: %w", strings.Join(s.TSAs, ", "), err)
	}
	return errkind.Operationalf("keyless signing with Fulcio at %s: %w", s.Fulcio, err)
}

// fulcioStatus is the HTTP status of sigstore-go's "Fulcio returned %d: …".
func fulcioStatus(err error) (int, bool) {
	rest, ok := strings.CutPrefix(err.Error(), "Fulcio returned ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(num)
	return code, err == nil
}

// stageError is an error of one service of a keyless signing.
type stageError struct {
	stage string // fulcio, tsa, log
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// fulcioStage and logStage mark their service's errors (stageError).
type fulcioStage struct{ sgsign.CertificateProvider }

func (f fulcioStage) GetCertificate(ctx context.Context, kp sgsign.Keypair, o *sgsign.CertificateProviderOptions) ([]byte, error) {
	c, err := f.CertificateProvider.GetCertificate(ctx, kp, o)
	if err != nil {
		return nil, &stageError{"fulcio", err}
	}
	return c, nil
}

// tsaStage marks the timestamp authority's transport errors (sigstore-go
// takes a TSA as a concrete type, so its requests are where to mark them).
type tsaStage struct{ http.RoundTripper }

func (t tsaStage) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	if err != nil {
		return nil, &stageError{"tsa", err}
	}
	return resp, nil
}

type logStage struct{ sgsign.Transparency }

func (l logStage) GetTransparencyLogEntry(ctx context.Context, pub []byte, b *protobundle.Bundle) error {
	if err := l.Transparency.GetTransparencyLogEntry(ctx, pub, b); err != nil {
		return &stageError{"log", err}
	}
	return nil
}

// describeKeyless reads back what a keyless bundle records: the identity
// its certificate names and its log entries.
func describeKeyless(raw []byte) (identity string, logs []string) {
	var pb protobundle.Bundle
	if protojson.Unmarshal(raw, &pb) != nil {
		return "", nil
	}
	if der := pb.GetVerificationMaterial().GetCertificate().GetRawBytes(); der != nil {
		if c, err := x509.ParseCertificate(der); err == nil {
			if s, err := certificate.SummarizeCertificate(c); err == nil {
				identity = s.SubjectAlternativeName + " (issuer " + s.Extensions.Issuer + ")"
			}
		}
	}
	for _, e := range pb.GetVerificationMaterial().GetTlogEntries() {
		entry := strconv.FormatInt(e.GetLogIndex(), 10)
		if t := e.GetIntegratedTime(); t > 0 {
			entry += " at " + time.Unix(t, 0).UTC().Format(time.RFC3339)
		}
		logs = append(logs, entry)
	}
	return identity, logs
}
