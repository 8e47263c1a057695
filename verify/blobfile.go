package verify

import (
	"fmt"
	"io"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/verify/policy"
)

// BlobFile verifies a bundle file as `gh attestation download` writes it
// (one JSON bundle, or JSON lines with one bundle per line; read by
// SplitBundles) about req's artifact. req.Bundle is the file's content
// and name where it came from. It passes when at least one bundle verifies
// for the requested signer and artifact, as `gh attestation verify` does,
// and the result's Bundle names it ("att.jsonl:2"); a line about another
// artifact or signed by another identity counts for nothing. A line that
// is not a Sigstore bundle makes the whole file bad input (exit 2), and
// none verifying is untrusted (exit 1), with every line's reason.
func BlobFile(name string, req BlobRequest) (*BlobResult, error) {
	bs, err := SplitBundles(name, req.Bundle)
	if err != nil {
		return nil, err
	}
	if len(bs) == 1 {
		req.Bundle = bs[0].Raw
		res, err := Blob(req)
		if err != nil {
			return nil, err
		}
		res.Bundle = bs[0].Name
		return res, nil
	}
	for _, b := range bs {
		if _, err := parseBundle(b.Raw); err != nil {
			return nil, errkind.Inputf("%s is not a valid Sigstore bundle: %s", b.Name, oneLine(err))
		}
	}
	// Each bundle reads the artifact from its start; a stream that cannot be
	// rewound cannot be checked against more than one.
	var rewind io.Seeker
	if req.Artifact != nil {
		s, ok := req.Artifact.(io.Seeker)
		if !ok {
			return nil, errkind.Inputf("%s holds %d bundles, and the artifact cannot be read again for each: give it as a file or as its digest", name, len(bs))
		}
		rewind = s
	}
	reasons := make([]string, 0, len(bs))
	for _, b := range bs {
		if rewind != nil {
			if _, err := rewind.Seek(0, io.SeekStart); err != nil {
				return nil, errkind.Inputf("%s holds %d bundles, and the artifact cannot be read again for each (%s): give it as a file or as its digest", name, len(bs), oneLine(err))
			}
		}
		one := req
		one.Bundle = b.Raw
		res, err := Blob(one)
		if err == nil {
			res.Bundle = b.Name
			return res, nil
		}
		if k, _ := errkind.Of(err); k != errkind.Untrusted {
			return nil, fmt.Errorf("%s: %w", b.Name, err)
		}
		reasons = append(reasons, b.Name+": "+oneLine(err))
	}
	return nil, errkind.Untrustedf("none of the %d bundles in %s verifies: %s", len(bs), name, strings.Join(reasons, "; "))
}

// foreignCAHint explains a certificate that no certificate authority of
// tr vouches for: most often a bundle from another Sigstore instance
// (GitHub's own, for private repositories), which the error sigstore-go
// reports first (a missing log entry) does not say. "" when a CA of tr
// issued it, or when there is nothing to say.
func foreignCAHint(b *bundle.Bundle, tr *policy.TrustRoot) string {
	if tr == nil || tr.Root == nil {
		return ""
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return ""
	}
	cert := vc.Certificate()
	if cert == nil {
		return ""
	}
	for _, ca := range tr.Root.FulcioCertificateAuthorities() {
		if _, err := ca.Verify(cert, cert.NotBefore); err == nil {
			return ""
		}
	}
	issuer := cert.Issuer.CommonName
	if len(cert.Issuer.Organization) > 0 {
		issuer += ", " + cert.Issuer.Organization[0]
	}
	return fmt.Sprintf("; the certificate was issued by %q, which no certificate authority of trust root %q vouches for: a bundle from another Sigstore instance (GitHub's own, for private repositories, say) verifies only with that instance's trusted_root.json as --trusted-root", issuer, tr.Name)
}
