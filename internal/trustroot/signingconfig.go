package trustroot

import (
	_ "embed"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// publicGoodSigningConfig names the public-good instance's services for
// keyless signing (README.md says where it comes from).
//
//go:embed public-good-signing-config.json
var publicGoodSigningConfig []byte

// SigningConfigTarget is the TUF target of a Sigstore repository naming
// its services for signing.
const SigningConfigTarget = "signing_config.v0.2.json"

// PublicGoodSigningConfig is the Sigstore signing config (v0.2) of the
// public-good instance: the one `imgsign trust-root update` cached with the
// trusted root (verified again, offline, with it), or else the embedded
// one — Fulcio and Rekor v1, the services whose keys the embedded trusted
// root lists, so what is signed with it verifies under `sigstore:
// public-good` offline. A cached trusted root comes with the signing config
// of the same update, so the two always match.
func PublicGoodSigningConfig() (*root.SigningConfig, error) {
	in, err := lookup(PublicGood)
	if err != nil {
		return nil, err
	}
	if dir, err := CacheDir(); err == nil {
		if c, err := readCache(dir, in); err == nil && c != nil && c.rec.SigningConfig != nil {
			return root.NewSigningConfigFromJSON(c.rec.SigningConfig)
		}
	}
	return root.NewSigningConfigFromJSON(publicGoodSigningConfig)
}

// SigningConfigFromFile reads a signing_config.json (v0.2): a private
// Sigstore's, or GitHub's instance's. Bad input is an errkind.Input error.
func SigningConfigFromFile(path string) (*root.SigningConfig, error) {
	b, err := boundedfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, errkind.Inputf("signing config %s: %w", safetext.Clean(path), pathReason(err))
	}
	sc, err := root.NewSigningConfigFromJSON(b)
	if err != nil {
		return nil, errkind.Inputf("signing config %s is not a Sigstore signing config (v0.2 JSON): %s", safetext.Clean(path), protoText(err))
	}
	return sc, nil
}
