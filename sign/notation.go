package sign

// Notary Project signatures (sign --format notation): a JWS or COSE
// envelope over the image's descriptor, signed with a key and its X.509
// chain, pushed as notation pushes it, so `notation verify` accepts it.
// notation-core-go builds and checks the envelope; the key signs through
// imgsign's own backends (files, KMS, PKCS#11).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	nx509 "github.com/notaryproject/notation-core-go/x509"
	"github.com/notaryproject/tspclient-go"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// NotationSigner is a key that can sign Notary Project envelopes.
// keys.Signer implements it.
type NotationSigner interface {
	Signer
	// Crypto is the key as a crypto.Signer honouring any SignerOpts, or
	// nil when the key signs only its Sigstore default (a KMS key).
	Crypto() crypto.Signer
}

// NotationOptions are the parts of a Notary Project signing run.
type NotationOptions struct {
	// Chain is the signing certificate chain, leaf first: the leaf's key
	// must be the signer's, and the chain must meet the Notary Project's
	// code-signing certificate requirements.
	Chain []*x509.Certificate
	// COSE selects the COSE envelope; the default is JWS, as notation's.
	COSE bool
	// TSAURL, when set, is an RFC 3161 TSA whose countersignature goes
	// into the envelope; TSARoots are the roots its chain must end in
	// (notation-core-go checks the timestamp it gets).
	TSAURL   string
	TSARoots []*x509.Certificate
	// Expiry, when not zero, is how long the signature is valid.
	Expiry time.Duration
	// Annotations go on the signed target descriptor (notation's -m).
	Annotations  map[string]string
	Recursive    bool
	NoTagBinding bool
	Now          func() time.Time
}

// NotationMediaType is the envelope media type opts choose.
func (o NotationOptions) envelopeType() string {
	if o.COSE {
		return attachment.NotaryCOSEMediaType
	}
	return attachment.NotaryJWSMediaType
}

// NotationImage signs image (a tag or digest) with a Notary Project signature.
func NotationImage(ctx context.Context, c storage.Resolver, image string, s NotationSigner, opts NotationOptions) (*Result, error) {
	t, err := c.Resolve(ctx, image, true)
	if err != nil {
		return nil, err
	}
	return NotationResolved(ctx, t, s, opts)
}

// NotationResolved signs an image already resolved to t. The first subject's
// signature binds t.Tag (unless NoTagBinding) in the target's annotations,
// with the repository and the time, as imgsign's Sigstore signatures do in
// their statement.
func NotationResolved(ctx context.Context, t *storage.Target, s NotationSigner, opts NotationOptions) (*Result, error) {
	rs, err := newRemoteSigner(ctx, s, opts.Chain)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{statement.TagAnnotation, statement.SignedAtAnnotation, notaryRepositoryAnnotation} {
		if _, ok := opts.Annotations[k]; ok {
			return nil, errkind.Inputf("annotation %s is reserved: sign by tag to record the tag and when it was bound (see --no-tag-binding)", k)
		}
	}
	var ts tspclient.Timestamper
	var tsaRoots *x509.CertPool
	if opts.TSAURL != "" {
		if len(opts.TSARoots) == 0 {
			return nil, errkind.Inputf("--tsa-url with --format notation needs the TSA's root certificate (--tsa-root-cert FILE): the Notary Project countersignature is checked against it when signing")
		}
		tsaRoots = x509.NewCertPool()
		for _, c := range opts.TSARoots {
			// As notation requires: the chain is checked up to a root.
			if !bytes.Equal(c.RawSubject, c.RawIssuer) || c.CheckSignatureFrom(c) != nil {
				return nil, errkind.Inputf("--tsa-root-cert: certificate %q is not a self-signed root: give the TSA's root certificate", c.Subject)
			}
			tsaRoots.AddCert(c)
		}
		ts, err = tspclient.NewHTTPTimestamper(&http.Client{Timeout: 30 * time.Second, Transport: createdIsOK{http.DefaultTransport}}, opts.TSAURL)
		if err != nil {
			return nil, errkind.Inputf("--tsa-url %s: %w", opts.TSAURL, err)
		}
	}
	repo, err := t.Writer()
	if err != nil {
		return nil, err
	}
	subjects, err := subjectsOf(ctx, t, opts.Recursive)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	res := &Result{Image: refname.DisplayReference(t.Reference().String()), Digest: t.Descriptor.Digest.String()}
	if t.Tag != "" && !opts.NoTagBinding {
		res.Tag = t.Tag
	}
	for i, subj := range subjects {
		ann := map[string]string{}
		for k, v := range opts.Annotations {
			ann[k] = v
		}
		if i == 0 && res.Tag != "" {
			ann[statement.TagAnnotation] = res.Tag
			ann[statement.SignedAtAnnotation] = now().UTC().Format(time.RFC3339Nano)
			ann[notaryRepositoryAnnotation] = repo.Name().Name()
		}
		env, err := notaryEnvelope(ctx, subj, ann, rs, opts, ts, tsaRoots, now())
		if err != nil {
			return nil, fmt.Errorf("signing %s with key %s: %w", subj.Digest, s.ID(), err)
		}
		a, err := pushNotary(ctx, repo, subj, env, opts.envelopeType(), opts.Chain, now(), i == 0 && res.Tag != "")
		a.KeyID = s.ID()
		if err != nil {
			return nil, err
		}
		res.Attached = append(res.Attached, a)
	}
	return res, nil
}

// createdIsOK lets tspclient-go, which takes only 200 OK, read a TSA that
// answers 201 Created, as sigstore's timestamp-authority does (RFC 3161's
// HTTP binding names no status; the reply is checked as any other).
type createdIsOK struct{ inner http.RoundTripper }

func (t createdIsOK) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusCreated {
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	}
	return resp, err
}

// notaryRepositoryAnnotation names, in a tag-binding signature's target
// annotations, the repository the tag is bound in (verify reads it as the
// statement subject's name).
const notaryRepositoryAnnotation = "dev.imgsign.repository"

// notaryEnvelope signs the payload describing subj, as notation-go's
// generic signer does, and checks the envelope it made.
func notaryEnvelope(ctx context.Context, subj v1.Descriptor, ann map[string]string, rs *remoteSigner, opts NotationOptions, ts tspclient.Timestamper, tsaRoots *x509.CertPool, at time.Time) ([]byte, error) {
	target := ocispec.Descriptor{MediaType: string(subj.MediaType), Digest: digest.Digest(subj.Digest.String()), Size: subj.Size}
	if len(ann) > 0 {
		target.Annotations = ann
	}
	payload, err := json.Marshal(struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}{target})
	if err != nil {
		return nil, err
	}
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        rs,
		SigningTime:   at,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "imgsign",
		Timestamper:   ts,
		TSARootCAs:    tsaRoots,
	}
	if opts.Expiry > 0 {
		req.Expiry = at.Add(opts.Expiry)
	}
	req = req.WithContext(ctx)
	env, err := signature.NewEnvelope(opts.envelopeType())
	if err != nil {
		return nil, err
	}
	raw, err := env.Sign(req)
	if err != nil {
		if rs.err != nil {
			return nil, rs.err // the key's own error, with its kind
		}
		if ts != nil && isTimestampError(err) {
			return nil, errkind.Operationalf("getting an RFC 3161 timestamp from %s: %w", opts.TSAURL, err)
		}
		return nil, errkind.Inputf("%w", err)
	}
	if _, err := env.Verify(); err != nil {
		return nil, fmt.Errorf("the signature made does not verify (is the key the certificate's?): %w", err)
	}
	return raw, nil
}

func isTimestampError(err error) bool {
	var te *signature.TimestampError
	return errors.As(err, &te)
}

// pushNotary uploads an envelope and its referrer manifest for subject, as
// notation does. tagged also gives it imgsign's per-referrer tag on
// registries with the referrers API (Options.tagged says why).
func pushNotary(ctx context.Context, repo storage.Writer, subject v1.Descriptor, env []byte, mediaType string, chain []*x509.Certificate, created time.Time, tagged bool) (Attached, error) {
	a := Attached{Subject: subject.Digest.String(), PredicateType: statement.Signature, Format: "notary"}
	if _, err := repo.PutBlob(ctx, attachment.EmptyJSON); err != nil {
		return a, fmt.Errorf("pushing signature of %s: %w", subject.Digest, err)
	}
	edesc, err := repo.PutBlob(ctx, env)
	if err != nil {
		return a, fmt.Errorf("pushing signature of %s: %w", subject.Digest, err)
	}
	edesc.MediaType = types.MediaType(mediaType)
	ref, err := attachment.NewNotaryReferrer(subject, edesc, chain, created)
	if err != nil {
		return a, err
	}
	return pushReferrer(ctx, repo, subject, ref, a, tagged)
}

// remoteSigner is a key as notation-core-go's signature.Signer: it signs
// the envelope's signing input the way the key spec of the certificate
// says (RSASSA-PSS or ECDSA, raw r||s as JWS and COSE carry it).
type remoteSigner struct {
	ctx   context.Context
	s     NotationSigner
	chain []*x509.Certificate
	spec  signature.KeySpec
	// err is the key's own error from the last Sign, kept with its kind.
	err error
}

func newRemoteSigner(ctx context.Context, s NotationSigner, chain []*x509.Certificate) (*remoteSigner, error) {
	if len(chain) == 0 {
		return nil, errkind.Inputf("--format notation needs the signing certificate chain (--cert CHAIN.pem, leaf first)")
	}
	leaf := chain[0]
	if !publicKeysEqual(leaf.PublicKey, s.GetPublicKey()) {
		return nil, errkind.Inputf("the certificate given with --cert (%s) is not for key %s: give the chain whose leaf certifies the signing key", leaf.Subject, s.ID())
	}
	spec, err := signature.ExtractKeySpec(leaf)
	if err != nil {
		return nil, errkind.Inputf("Notary Project signatures need an RSA (2048, 3072, 4096 bits) or ECDSA (P-256, P-384, P-521) key: %w", err)
	}
	if err := nx509.ValidateCodeSigningCertChain(chain, nil); err != nil {
		return nil, errkind.Inputf("--cert: the chain is not a Notary Project code-signing chain: %w", err)
	}
	if spec.Type == signature.KeyTypeRSA && s.Crypto() == nil {
		return nil, errkind.Inputf("key %s: Notary Project signatures sign RSA keys with RSASSA-PSS, which imgsign does only with key files and PKCS#11 keys: use an ECDSA KMS key", s.ID())
	}
	return &remoteSigner{ctx: ctx, s: s, chain: chain, spec: spec}, nil
}

func (r *remoteSigner) KeySpec() (signature.KeySpec, error) { return r.spec, nil }

func (r *remoteSigner) Sign(payload []byte) ([]byte, []*x509.Certificate, error) {
	r.err = nil
	hash := r.spec.SignatureAlgorithm().Hash()
	h := hash.New()
	h.Write(payload)
	sum := h.Sum(nil)
	var sig []byte
	var err error
	switch cs := r.s.Crypto(); {
	case r.spec.Type == signature.KeyTypeRSA:
		sig, err = cs.Sign(rand.Reader, sum, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: hash})
	case cs != nil:
		sig, err = cs.Sign(rand.Reader, sum, hash)
	default:
		// A KMS key signs ECDSA over its curve's hash, the hash the
		// Notary key spec of that curve uses too.
		sig, _, err = r.s.SignData(r.ctx, payload)
	}
	if err != nil {
		r.err = err
		return nil, nil, err
	}
	if r.spec.Type == signature.KeyTypeEC {
		if sig, err = rawECDSA(sig, r.spec.Size); err != nil {
			return nil, nil, err
		}
	}
	return sig, r.chain, nil
}

// rawECDSA turns an ASN.1 ECDSA signature into the fixed-width r||s that
// JWS and COSE carry.
func rawECDSA(der []byte, bits int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		return nil, fmt.Errorf("decoding the ECDSA signature: %w", err)
	}
	n := (bits + 7) / 8
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
