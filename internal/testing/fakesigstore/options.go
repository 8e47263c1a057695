package fakesigstore

import "time"

// BundleOption changes what a bundle holds or how it was made.
type BundleOption func(*bundleConfig)

type bundleConfig struct {
	at          time.Time
	noTlog      bool
	timestamp   bool
	rekorV2     bool
	intoto      bool
	chain       bool
	noSCT       bool
	mediaType   string
	payloadType string
	logged      []byte
}

func newConfig(opts []BundleOption) *bundleConfig {
	c := &bundleConfig{at: time.Now(), payloadType: InTotoPayloadType}
	for _, o := range opts {
		o(c)
	}
	// Log and certificate times have second precision.
	c.at = c.at.Truncate(time.Second)
	return c
}

// WithoutTlog leaves the transparency log entry out.
func WithoutTlog() BundleOption { return func(c *bundleConfig) { c.noTlog = true } }

// WithTimestamp adds an RFC 3161 timestamp from the Sigstore's TSA over the
// signature, at the signing time, in timestampVerificationData.
func WithTimestamp() BundleOption { return func(c *bundleConfig) { c.timestamp = true } }

// AtTime signs at t instead of now: the leaf certificate is valid from t for
// LeafValidity, and the log entry's integrated time, the SCT and the
// timestamp are all t. AtTime(time.Now().Add(-time.Hour)) makes a bundle
// whose certificate has expired but was valid when logged. t must lie within
// Validity of New.
func AtTime(t time.Time) BundleOption { return func(c *bundleConfig) { c.at = t } }

// WithRekorV2 logs in the Rekor v2 log instead of the v1 one: a hashedrekord
// v0.0.2 entry (over the artifact digest, or for DSSE over the digest of the
// envelope's PAE, as Rekor v2 logs DSSE) with a checkpoint-signed inclusion
// proof and neither integrated time nor inclusion promise, so the bundle
// needs WithTimestamp for a verified time.
func WithRekorV2() BundleOption { return func(c *bundleConfig) { c.rekorV2 = true } }

// WithIntotoEntry logs a DSSE bundle in the Rekor v1 log as an intoto v0.0.2
// entry instead of a dsse v0.0.1 one (what cosign attest uploaded before
// dsse entries existed). MessageBundle ignores it.
func WithIntotoEntry() BundleOption { return func(c *bundleConfig) { c.intoto = true } }

// WithChain puts the certificate chain (leaf, then the Fulcio intermediate)
// in verificationMaterial.x509CertificateChain instead of the leaf alone in
// verificationMaterial.certificate, in a bundle v0.1 (v0.2 with WithRekorV2,
// whose entries have no inclusion promise) unless WithMediaType says
// otherwise. sigstore-go uses the bundle's intermediate only in a v0.3
// bundle (WithMediaType(MediaTypeV03)) read with
// bundle.AllowCertificateChain, and rejects such a bundle without it; in
// v0.1 and v0.2 it reads the leaf alone.
func WithChain() BundleOption { return func(c *bundleConfig) { c.chain = true } }

// WithoutSCT issues the leaf certificate without an embedded SCT.
func WithoutSCT() BundleOption { return func(c *bundleConfig) { c.noSCT = true } }

// WithMediaType sets the bundle's mediaType verbatim, e.g.
// "application/vnd.dev.sigstore.bundle+json;version=0.3" (v0.3's other
// spelling). The content is not changed to suit it.
func WithMediaType(mediaType string) BundleOption {
	return func(c *bundleConfig) { c.mediaType = mediaType }
}

// WithPayloadType sets the DSSE envelope's payload type (signed with it)
// instead of application/vnd.in-toto+json.
func WithPayloadType(payloadType string) BundleOption {
	return func(c *bundleConfig) { c.payloadType = payloadType }
}

// LogEntryFor logs another artifact (MessageBundle) or statement
// (DSSEBundle), signed by the same certificate, instead of the one in the
// bundle: a genuine log entry that does not match the bundle.
func LogEntryFor(other []byte) BundleOption { return func(c *bundleConfig) { c.logged = other } }

// Bundle media types.
const (
	MediaTypeV01      = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	MediaTypeV02      = "application/vnd.dev.sigstore.bundle+json;version=0.2"
	MediaTypeV03      = "application/vnd.dev.sigstore.bundle.v0.3+json"
	InTotoPayloadType = "application/vnd.in-toto+json"
)

func (c *bundleConfig) bundleMediaType() string {
	switch {
	case c.mediaType != "":
		return c.mediaType
	case c.chain && c.rekorV2 && !c.noTlog:
		return MediaTypeV02
	case c.chain:
		return MediaTypeV01
	}
	return MediaTypeV03
}

// RootOption changes what a trusted root describes.
type RootOption func(*rootConfig)

type rootConfig struct {
	noRekor, noRekorV1, noRekorV2, noTSA, noCTLog, noIntermediate bool
	start, end                                                    time.Time
	extraTSAs                                                     []extraTSA
}

// WithoutRekor leaves both Rekor logs out: a root like GitHub's own
// instance, whose bundles carry only a TSA timestamp.
func WithoutRekor() RootOption { return func(c *rootConfig) { c.noRekor = true } }

// WithoutRekorV1 leaves the Rekor v1 log out (keeping v2).
func WithoutRekorV1() RootOption { return func(c *rootConfig) { c.noRekorV1 = true } }

// WithoutRekorV2 leaves the Rekor v2 log out (keeping v1).
func WithoutRekorV2() RootOption { return func(c *rootConfig) { c.noRekorV2 = true } }

// WithoutTSA leaves the timestamping authority out.
func WithoutTSA() RootOption { return func(c *rootConfig) { c.noTSA = true } }

// WithoutCTLog leaves the CT log out.
func WithoutCTLog() RootOption { return func(c *rootConfig) { c.noCTLog = true } }

// WithoutFulcioIntermediate lists only the Fulcio root certificate in the
// root's chain: leaves then verify only through a bundle that carries the
// intermediate (WithChain, read with bundle.AllowCertificateChain).
func WithoutFulcioIntermediate() RootOption { return func(c *rootConfig) { c.noIntermediate = true } }

// ValidFor sets the validFor window of every authority and log in the root
// (by default from Validity before New, open-ended). A zero end is open.
func ValidFor(start, end time.Time) RootOption {
	return func(c *rootConfig) { c.start, c.end = start, end }
}
