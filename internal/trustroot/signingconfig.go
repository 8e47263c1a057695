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

// PublicGoodSigningConfig is the Sigstore signing config (v0.2) of the
// public-good instance: Fulcio and Rekor v1, the services whose keys the
// embedded trusted root lists, so what is signed with it verifies under
// `sigstore: public-good` offline.
func PublicGoodSigningConfig() (*root.SigningConfig, error) {
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
