package registry

import "time"

// Bounds on what a registry may make imgsign read, wait for or check. A
// registry is not trusted to be finite: past any of these imgsign stops with
// exit 3 and the numbers, and never judges an image on part of what it has
// attached (a signature left unread could be the one that matters). The
// "Limits" table in docs/storage.md lists them; keep the two in step.
const (
	// MaxManifestBytes bounds a manifest, an index and one page of a
	// listing (referrers, tags).
	MaxManifestBytes = 4 << 20
	// MaxBundleBytes bounds one Sigstore bundle.
	MaxBundleBytes = 16 << 20
	// MaxReferrerPages bounds the pages of one referrers listing followed.
	MaxReferrerPages = 10
	// MaxReferrers bounds the referrers of one image, across every way
	// discovery finds them (listing, tag schema index, per-referrer tags).
	MaxReferrers = 1000
	// MaxTagListPages bounds the pages of one tag listing followed while
	// looking for an image's referrer tags (one page where the registry
	// honours `last`; registries that do not list every tag from the start).
	MaxTagListPages = 100
	// MaxBundlesPerImage bounds the bundles verify fetches and checks for one
	// image, like notation's maxSignatureAttempts.
	MaxBundlesPerImage = 100

	// DefaultTimeout is the deadline of a whole verify or tree run.
	DefaultTimeout = 2 * time.Minute
	// ResponseHeaderTimeout bounds the wait for a response's headers, per
	// request, whatever the run's deadline: a registry that takes longer is
	// broken, and the request is retried.
	ResponseHeaderTimeout = 30 * time.Second
	// RequestTimeout bounds one read of a manifest, a listing page or a
	// bundle, body included, for commands without a run deadline (sign,
	// attest) or with a longer one.
	RequestTimeout = 2 * time.Minute
)
