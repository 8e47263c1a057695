package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
)

// Envelope formats the verify report names for Notary Project signatures
// (KeyUse "format").
const (
	formatNotaryJWS  = "notary-jws"
	formatNotaryCOSE = "notary-cose"
)

// notaryReport is the part of the verify --output json report the Notary
// Project tests read, decoded on its own so that fields the report gained
// for Notary Project signatures ("format") are read as printed.
type notaryReport struct {
	Images []struct {
		Image        string              `json:"image"`
		Verdict      string              `json:"verdict"`
		Error        string              `json:"error"`
		ExitCode     int                 `json:"exitCode"`
		Requirements []notaryRequirement `json:"requirements"`
	} `json:"images"`
}

// notaryRequirement is a requirement of the report.
type notaryRequirement struct {
	Kind       string      `json:"kind"`
	Threshold  int         `json:"threshold"`
	Satisfied  bool        `json:"satisfied"`
	Summary    string      `json:"summary"`
	Code       string      `json:"code"`
	Accepted   []notaryUse `json:"accepted"`
	AlsoSigned []notaryUse `json:"alsoSigned"`
	Rejected   []struct {
		Referrer string `json:"referrer"`
		KeyName  string `json:"keyName"`
		Code     string `json:"code"`
		Reason   string `json:"reason"`
		Format   string `json:"format"`
	} `json:"rejected"`
}

// signatures is the image's signatures requirement; t fails without one.
func (rep *notaryReport) signatures(t *testing.T) *notaryRequirement {
	t.Helper()
	for i, rq := range rep.Images[0].Requirements {
		if rq.Kind == "signatures" {
			return &rep.Images[0].Requirements[i]
		}
	}
	t.Fatalf("the report has no signatures requirement: %+v", rep.Images[0])
	return nil
}

// notaryUse is an accepted signature in the report.
type notaryUse struct {
	KeyName    string   `json:"keyName"`
	Referrer   string   `json:"referrer"`
	Format     string   `json:"format"`
	SignedAt   string   `json:"signedAt"`
	TimeSource string   `json:"timeSource"`
	Warnings   []string `json:"warnings"`
}

// notaryVerify runs imgsign verify --output json on one image (with flags)
// and decodes the report, which must name that one image and match the
// report schema.
func notaryVerify(e *env, policy, image string, flags ...string) (*notaryReport, testenv.Result) {
	e.t.Helper()
	r := e.run(append(append([]string{"verify", "--policy", policy, "--output", "json"}, flags...), image)...)
	var rep notaryReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		e.t.Fatalf("verify --output json printed no report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if len(rep.Images) != 1 {
		e.t.Fatalf("report has %d images, want 1:\n%s", len(rep.Images), r.Stdout)
	}
	checkReportSchema(e.t, r.Stdout)
	return &rep, r
}

// mustPass fails t unless verify passed (exit 0) with at least one accepted
// signature, all of them in one of formats (any format when none given).
func (rep *notaryReport) mustPass(t *testing.T, r testenv.Result, formats ...string) {
	t.Helper()
	if r.Code != 0 || rep.Images[0].Verdict != "pass" {
		t.Fatalf("verify: exit %d, verdict %q, want a pass\nstdout:\n%s\nstderr:\n%s", r.Code, rep.Images[0].Verdict, r.Stdout, r.Stderr)
	}
	n := 0
	for _, rq := range rep.Images[0].Requirements {
		for _, a := range rq.Accepted {
			n++
			if len(formats) > 0 && !containsString(formats, a.Format) {
				t.Errorf("accepted signature %s by %s has format %q, want one of %q", a.Referrer, a.KeyName, a.Format, formats)
			}
		}
	}
	if n == 0 {
		t.Errorf("verify passed with no accepted signature:\n%s", r.Stdout)
	}
}

// mustFail fails t unless verify failed (exit 1) and its output says why
// with one of reasons (case-insensitive) in a rejection, a requirement's
// summary or the image's error.
func (rep *notaryReport) mustFail(t *testing.T, r testenv.Result, reasons ...string) {
	t.Helper()
	if r.Code != 1 || rep.Images[0].Verdict != "fail" {
		t.Fatalf("verify: exit %d, verdict %q, want 1 and fail\nstdout:\n%s\nstderr:\n%s", r.Code, rep.Images[0].Verdict, r.Stdout, r.Stderr)
	}
	var said []string
	for _, rq := range rep.Images[0].Requirements {
		said = append(said, rq.Summary)
		for _, rj := range rq.Rejected {
			said = append(said, rj.Reason, string(rj.Code))
		}
	}
	said = append(said, rep.Images[0].Error)
	all := strings.ToLower(strings.Join(said, "\n"))
	for _, want := range reasons {
		if strings.Contains(all, strings.ToLower(want)) {
			t.Logf("rejected as expected: %s", strings.Join(said, " | "))
			return
		}
	}
	t.Errorf("verify failed, but says none of %q:\n%s", reasons, r.Stdout)
}

// mustReject fails t unless verify failed (exit 1) rejecting a signature
// with code and in format (any when empty) for a reason containing reason.
func (rep *notaryReport) mustReject(t *testing.T, r testenv.Result, code, format, reason string) {
	t.Helper()
	if r.Code != 1 || rep.Images[0].Verdict != "fail" {
		t.Fatalf("verify: exit %d, verdict %q, want 1 and fail\nstdout:\n%s\nstderr:\n%s", r.Code, rep.Images[0].Verdict, r.Stdout, r.Stderr)
	}
	for _, rj := range rep.signatures(t).Rejected {
		if (code == "" || rj.Code == code) && (format == "" || rj.Format == format) && strings.Contains(rj.Reason, reason) {
			t.Logf("rejected as expected: %s: %s", rj.Code, rj.Reason)
			return
		}
	}
	t.Errorf("verify failed, but rejected no %s signature with code %q for %q:\n%s", format, code, reason, r.Stdout)
}

// mustBeTimed fails t unless the accepted signature's trusted time is a
// verified RFC 3161 timestamp (stamped) or the time of judgement (not).
func (a notaryUse) mustBeTimed(t *testing.T, stamped bool) {
	t.Helper()
	switch {
	case stamped && (a.SignedAt == "" || !strings.HasPrefix(a.TimeSource, "rfc3161:")):
		t.Errorf("timestamped signature accepted with signedAt %q, time source %q; want the timestamp's", a.SignedAt, a.TimeSource)
	case !stamped && (a.SignedAt != "" || a.TimeSource != "judged-at"):
		t.Errorf("signature without a timestamp accepted with signedAt %q, time source %q; want judged-at", a.SignedAt, a.TimeSource)
	}
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// x509Store is a trustStores entry of an imgsign policy.
type x509Store struct {
	name, typ string
	certs     []string
}

// x509Signer is an x509Signers entry; extra is YAML lines (4-space
// indented) appended to it.
type x509Signer struct {
	name       string
	stores     []string
	identities []string
	extra      string
}

// sigKey is a Sigstore key in the policy: name.pub in the test dir.
type sigKey string

// notaryPolicy writes an imgsign policy with stores, signers and keys whose
// single rule covers host/** and needs threshold of ruleKeys, and returns
// its path. Each call writes a new file.
func notaryPolicy(e *env, host string, stores []x509Store, signers []x509Signer, keys []sigKey, ruleKeys []string, threshold int) string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\n")
	if len(keys) > 0 {
		b.WriteString("keys:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  - name: %s\n    publicKey: %s\n", k, filepath.Join(e.dir, string(k)+".pub"))
		}
	}
	if len(stores) > 0 {
		b.WriteString("trustStores:\n")
		for _, s := range stores {
			fmt.Fprintf(&b, "  - name: %s\n    type: %s\n    certificates:\n", s.name, s.typ)
			for _, c := range s.certs {
				fmt.Fprintf(&b, "      - %s\n", strconv.Quote(c))
			}
		}
	}
	if len(signers) > 0 {
		b.WriteString("x509Signers:\n")
		for _, s := range signers {
			fmt.Fprintf(&b, "  - name: %s\n    trustStores: [%s]\n    trustedIdentities:\n", s.name, strings.Join(s.stores, ", "))
			for _, id := range s.identities {
				fmt.Fprintf(&b, "      - %s\n", strconv.Quote(id))
			}
			b.WriteString(s.extra)
		}
	}
	fmt.Fprintf(&b, "policies:\n  - name: test\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [%s]\n      threshold: %d\n",
		host, strings.Join(ruleKeys, ", "), threshold)
	policyCount++
	return e.write(fmt.Sprintf("notary-policy-%d.yaml", policyCount), b.String())
}

var policyCount int

// withRuleLines writes a copy of the policy file at path (as notaryPolicy
// writes it: the rule's signatures last) with lines added to the rule's
// signatures, and returns the copy's path.
func withRuleLines(e *env, path, lines string) string {
	e.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	policyCount++
	return e.write(fmt.Sprintf("notary-policy-%d.yaml", policyCount), string(b)+lines)
}

// simpleNotaryPolicy trusts one signer, "release", over the CA root (and,
// when tsaRoot is set, the TSA root) with identity, and needs its
// signature; signerExtra is YAML lines appended to the signer.
func simpleNotaryPolicy(e *env, host, root, tsaRoot, identity, signerExtra string) string {
	e.t.Helper()
	stores := []x509Store{{name: "pki", typ: "ca", certs: []string{root}}}
	signer := x509Signer{name: "release", stores: []string{"pki"}, identities: []string{identity}, extra: signerExtra}
	if tsaRoot != "" {
		stores = append(stores, x509Store{name: "tsa", typ: "tsa", certs: []string{tsaRoot}})
		signer.stores = append(signer.stores, "tsa")
	}
	return notaryPolicy(e, host, stores, []x509Signer{signer}, nil, []string{"release"}, 1)
}

// tsaRootOf writes the last certificate of a PEM chain file (the TSA's
// root, as testenv.TSA writes its chain leaf first) to dir and returns its
// path.
func tsaRootOf(t *testing.T, chainPath, dir string) string {
	t.Helper()
	b, err := os.ReadFile(chainPath)
	if err != nil {
		t.Fatal(err)
	}
	var last *pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		last = blk
	}
	if last == nil {
		t.Fatalf("%s holds no certificate", chainPath)
	}
	p := filepath.Join(dir, "tsa-root.crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(last), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// notationTSA returns the URL of a loopback proxy in front of the
// timestamp authority at tsaURL (testenv.TSA, whose chain is chainPath)
// that makes it one notation can use. Two things stand in the way, both
// between sigstore's TSA and notation's RFC 3161 client (tspclient-go
// v1.0.0):
//
//   - the TSA answers a timestamp request with 201 Created, which the
//     client takes for a failure ("https response bad status: 201
//     Created"): the proxy answers 200 OK;
//   - the TSA puts only its own certificate in the token, not the
//     intermediate CA between it and the root, and notation builds the
//     TSA's chain from the token's certificates up to a root in its tsa
//     trust store, which holds only self-signed roots ("x509: certificate
//     signed by unknown authority"): the proxy adds the intermediates of
//     chainPath to the token's certificates, as TSAs that send their chain
//     do. The certificates are outside what the TSA signed.
func notationTSA(t *testing.T, tsaURL, chainPath string) string {
	t.Helper()
	u, err := url.Parse(tsaURL)
	if err != nil {
		t.Fatal(err)
	}
	chain := pemCerts(t, chainPath)
	if len(chain) < 2 {
		t.Fatalf("%s: TSA chain of %d certificates", chainPath, len(chain))
	}
	intermediates := chain[1 : len(chain)-1]
	target := *u
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(&target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodPost || resp.StatusCode/100 != 2 {
			return nil
		}
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		var rerr error
		err := editBody(resp, func(b []byte) []byte {
			out, err := addTokenCerts(b, intermediates)
			if err != nil {
				rerr = err
				return b
			}
			return out
		})
		if err != nil {
			return err
		}
		return rerr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + u.Path
}

// pemCerts returns the DER certificates of a PEM file, in order.
func pemCerts(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, blk.Bytes)
	}
}

// addTokenCerts adds DER certificates to the certificates of the CMS
// SignedData inside an RFC 3161 TimeStampResp:
//
//	TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo }
//	ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
//	    certificates [0] IMPLICIT SET OF Certificate OPTIONAL, crls [1] OPTIONAL, signerInfos }
func addTokenCerts(resp []byte, certs [][]byte) ([]byte, error) {
	in := cryptobyte.String(resp)
	var body, status, ci, oid, explicit, sd cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.ReadASN1Element(&status, cbasn1.SEQUENCE) ||
		!body.ReadASN1(&ci, cbasn1.SEQUENCE) ||
		!ci.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!explicit.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, errors.New("not an RFC 3161 response with a token")
	}
	certsTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	type element struct {
		tag cbasn1.Tag
		der cryptobyte.String
	}
	var elems []element
	for !sd.Empty() {
		var el cryptobyte.String
		var tag cbasn1.Tag
		if !sd.ReadAnyASN1Element(&el, &tag) {
			return nil, errors.New("malformed SignedData")
		}
		elems = append(elems, element{tag, el})
	}
	if len(elems) < 4 {
		return nil, errors.New("short SignedData")
	}
	if elems[3].tag != certsTag {
		elems = append(elems[:3], append([]element{{tag: certsTag, der: cryptobyte.String{0xa0, 0x00}}}, elems[3:]...)...)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(status)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(oid)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, el := range elems {
						if el.tag != certsTag {
							b.AddBytes(el.der)
							continue
						}
						var have cryptobyte.String
						el.der.ReadASN1(&have, certsTag)
						b.AddASN1(certsTag, func(b *cryptobyte.Builder) {
							b.AddBytes(have)
							for _, c := range certs {
								b.AddBytes(c)
							}
						})
					}
				})
			})
		})
	})
	return b.Bytes()
}

// notationSignOpts are how notationSign signs.
type notationSignOpts struct {
	key    string // signing key name (testpki.Leaf.NotationKey)
	format string // jws (default) or cose
	// tsaURL is --timestamp-url (notationTSA's), with
	// --timestamp-root-cert tsaRoot.
	tsaURL  string
	tsaRoot string
	// referrersAPI asks notation to use the referrers API
	// (--force-referrers-tag=false) rather than its tag-schema default.
	referrersAPI bool
	// expiry is --expiry: the envelope's own expiry, a Go duration.
	expiry string
}

// notationSign signs ref with the notation CLI.
func notationSign(t *testing.T, n *testenv.NotationCLI, ref string, o notationSignOpts) {
	t.Helper()
	args := []string{"sign", "--insecure-registry", "--key", o.key}
	if o.format != "" {
		args = append(args, "--signature-format", o.format)
	}
	if o.tsaURL != "" {
		args = append(args, "--timestamp-url", o.tsaURL, "--timestamp-root-cert", o.tsaRoot)
	}
	if o.referrersAPI {
		args = append(args, "--force-referrers-tag=false")
	}
	if o.expiry != "" {
		args = append(args, "--expiry", o.expiry)
	}
	n.Run(t, append(args, ref)...)
}

// notationTrust makes notation trust signatures chaining to caRoot whose
// leaf is identity (and, with tsaRoot, timestamps by that TSA), in every
// registry scope: the certificates go to the trust stores ca:testpki and
// tsa:testtsa, replacing what they held.
func notationTrust(t *testing.T, n *testenv.NotationCLI, caRoot, tsaRoot, identity string) {
	t.Helper()
	notationTrustVerifyTimestamp(t, n, caRoot, tsaRoot, identity, "")
}

// notationTrustVerifyTimestamp is notationTrust with the trust policy's
// signatureVerification.verifyTimestamp set (always or afterCertExpiry;
// notation's default, always, when empty).
func notationTrustVerifyTimestamp(t *testing.T, n *testenv.NotationCLI, caRoot, tsaRoot, identity, verifyTimestamp string) {
	t.Helper()
	put := func(typ, store, file string) {
		dir := filepath.Join(n.Config, "truststore", "x509", typ, store)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "root.crt"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("ca", "testpki", caRoot)
	stores := []string{"ca:testpki"}
	if tsaRoot != "" {
		put("tsa", "testtsa", tsaRoot)
		stores = append(stores, "tsa:testtsa")
	}
	verification := map[string]any{"level": "strict"}
	if verifyTimestamp != "" {
		verification["verifyTimestamp"] = verifyTimestamp
	}
	policy := map[string]any{
		"version": "1.0",
		"trustPolicies": []any{map[string]any{
			"name":                  "imgsign-notary-test",
			"registryScopes":        []string{"*"},
			"signatureVerification": verification,
			"trustStores":           stores,
			"trustedIdentities":     []string{identity},
		}},
	}
	b, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	n.TrustPolicy(t, string(b))
}

// notationVerifies runs notation verify on ref and fails t unless it
// passes (want) or fails (!want).
func notationVerifies(t *testing.T, n *testenv.NotationCLI, ref string, want bool) {
	t.Helper()
	r := n.Exec(t, "verify", "--insecure-registry", ref)
	if got := r.Code == 0; got != want {
		t.Errorf("notation verify %s: exit %d, want a %s\nstdout:\n%s\nstderr:\n%s", ref, r.Code,
			map[bool]string{true: "pass", false: "failure"}[want], r.Stdout, r.Stderr)
	}
}

// leafNamed issues a leaf of pki whose subject has the common name cn
// (C=US, ST=WA, O=imgsign test), changed by o's other fields.
func leafNamed(t *testing.T, pki *testpki.PKI, cn string, o testpki.LeafOptions) *testpki.Leaf {
	t.Helper()
	o.Subject.Country = []string{"US"}
	o.Subject.Province = []string{"WA"}
	o.Subject.Organization = []string{"imgsign test"}
	o.Subject.CommonName = cn
	return pki.Leaf(t, o)
}

// descriptorOf resolves ref (host/repo:tag or @digest) to its descriptor.
func descriptorOf(t *testing.T, ref string) v1.Descriptor {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// notarySignatureManifests returns the raw Notary Project signature
// manifests whose subject is digest d in host/repo, found with the
// referrers API or the tag schema (go-containerregistry's remote.Referrers
// falls back to it), by their own artifact type or config media type: the
// referrers list of go-containerregistry's registry is not trusted for it.
func notarySignatureManifests(t *testing.T, host, repo string, d v1.Hash) map[v1.Hash][]byte {
	t.Helper()
	subject, err := name.NewDigest(host+"/"+repo+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(subject)
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[v1.Hash][]byte{}
	for _, m := range im.Manifests {
		raw := fetchManifest(t, host, repo, m.Digest)
		var mf struct {
			ArtifactType string `json:"artifactType"`
			Config       struct {
				MediaType string `json:"mediaType"`
			} `json:"config"`
		}
		if err := json.Unmarshal(raw, &mf); err != nil {
			t.Fatal(err)
		}
		if mf.ArtifactType == notarySignatureType || mf.Config.MediaType == notarySignatureType {
			out[m.Digest] = raw
		}
	}
	return out
}

func fetchManifest(t *testing.T, host, repo string, d v1.Hash) []byte {
	t.Helper()
	ref, err := name.NewDigest(host+"/"+repo+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("GET %s: %v", ref, err)
	}
	return desc.Manifest
}

func fetchBlob(t *testing.T, host, repo string, d v1.Hash) []byte {
	t.Helper()
	ref, err := name.NewDigest(host+"/"+repo+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	l, err := remote.Layer(ref)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawManifest is a manifest to push as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// repushSignature pushes the signature manifest raw (from host/fromRepo)
// into host/toRepo with subject as its subject and its envelope (the first
// layer) changed by edit (nil leaves it), with the blobs it needs, and
// returns the new manifest's digest. go-containerregistry adds it to the
// subject's sha256-<hex> tag index on a registry without the referrers API.
func repushSignature(t *testing.T, host, fromRepo string, raw []byte, toRepo string, subject v1.Descriptor, edit func([]byte) []byte) v1.Hash {
	t.Helper()
	return repushSignatureWith(t, host, fromRepo, raw, toRepo, subject, edit, nil)
}

// repushSignatureWith is repushSignature with the manifest itself changed
// by editManifest (after the blobs and subject are set) as well.
func repushSignatureWith(t *testing.T, host, fromRepo string, raw []byte, toRepo string, subject v1.Descriptor, edit func([]byte) []byte, editManifest func(map[string]any)) v1.Hash {
	t.Helper()
	var mf map[string]any
	if err := json.Unmarshal(raw, &mf); err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(host+"/"+toRepo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	push := func(desc map[string]any, edit func([]byte) []byte) {
		d, err := v1.NewHash(desc["digest"].(string))
		if err != nil {
			t.Fatal(err)
		}
		b := fetchBlob(t, host, fromRepo, d)
		if edit != nil {
			b = edit(b)
			sum := sha256.Sum256(b)
			desc["digest"] = fmt.Sprintf("sha256:%x", sum)
			desc["size"] = len(b)
		}
		mt, _ := desc["mediaType"].(string)
		if err := remote.WriteLayer(repo, static.NewLayer(b, types.MediaType(mt))); err != nil {
			t.Fatalf("pushing a blob to %s: %v", repo, err)
		}
	}
	push(mf["config"].(map[string]any), nil)
	layers := mf["layers"].([]any)
	for i, l := range layers {
		if i == 0 {
			push(l.(map[string]any), edit)
		} else {
			push(l.(map[string]any), nil)
		}
	}
	mf["subject"] = map[string]any{"mediaType": string(subject.MediaType), "digest": subject.Digest.String(), "size": subject.Size}
	if editManifest != nil {
		editManifest(mf)
	}
	out, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := mf["mediaType"].(string)
	if mt == "" {
		mt = string(types.OCIManifestSchema1)
	}
	h, _, err := v1.SHA256(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Digest(h.String()), rawManifest{raw: out, mediaType: types.MediaType(mt)}); err != nil {
		t.Fatalf("pushing the signature manifest to %s: %v", repo, err)
	}
	return h
}

// copyImageTo copies the image host/fromRepo@d to host/toRepo:tag (same
// digest) and returns its descriptor there.
func copyImageTo(t *testing.T, host, fromRepo string, d v1.Hash, toRepo, tag string) v1.Descriptor {
	t.Helper()
	src, err := name.NewDigest(host+"/"+fromRepo+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(host+"/"+toRepo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
	return descriptorOf(t, host+"/"+toRepo+"@"+d.String())
}
