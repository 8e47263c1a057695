package fakesigstore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// TSAPath is where ServeTSA's server answers RFC 3161 requests (the path
// Sigstore's timestamp-authority serves).
const TSAPath = "/api/v1/timestamp"

// ServeTSA serves the Sigstore's TSA over HTTP until the test ends and
// returns its timestamp URL (for cosign sign --timestamp-server-url): it
// answers an RFC 3161 request (POST, application/timestamp-query) with a
// timestamp at the current time, echoing the nonce and including the TSA's
// certificate when asked.
func (s *Sigstore) ServeTSA(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != TSAPath {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{
			HashAlgorithm:     req.HashAlgorithm,
			HashedMessage:     req.HashedMessage,
			Time:              time.Now(),
			Nonce:             req.Nonce,
			Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
			AddTSACertificate: req.Certificates,
			ExtraExtensions:   req.Extensions,
		}
		resp, err := ts.CreateResponseWithOpts(s.tsaLeaf, s.tsaKey, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + TSAPath
}

// PEM encodes certificates as concatenated PEM blocks (cosign's
// --certificate and --certificate-chain files).
func PEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// WithExtraTSA also trusts another timestamping authority, given its chain
// leaf first and root last (a timestamp-authority server run by the test),
// valid like the rest of the root.
func WithExtraTSA(uri string, chain ...*x509.Certificate) RootOption {
	return func(c *rootConfig) { c.extraTSAs = append(c.extraTSAs, extraTSA{uri, chain}) }
}

type extraTSA struct {
	uri   string
	chain []*x509.Certificate
}
