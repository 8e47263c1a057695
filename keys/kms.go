package keys

// KMS keys: awskms://, gcpkms://, azurekms:// and hashivault:// references,
// through sigstore/sigstore's KMS provider packages (all four are compiled
// in; importing them registers them with kms.Get).
//
// Key versions. imgsign's key id is over the public key, so a KMS key with
// several versions has several public keys and ids. LoadKMSPublic (and so
// `imgsign keys public --key URI`) returns the version the provider signs
// with: the latest. LoadKMSPublicKeys returns every version the KMS would
// itself accept signatures from, and a policy key naming a KMS reference
// trusts all of them:
//
//   - hashivault://NAME: every version Vault lists for the key at verify time
//     that is not below its min_decryption_version (Vault's own verify
//     endpoint refuses those as "disallowed by policy (too old)"). Rotating
//     the key in Vault therefore does not break images signed before the
//     rotation; retiring a version is done in Vault
//     (`vault write transit/keys/NAME/config min_decryption_version=N`, or
//     trimming it) and takes effect on the next verify; the policy's
//     revokedAt/validUntil on the entry still apply to all versions at once.
//   - awskms, gcpkms, azurekms: the one public key the provider resolves the
//     reference to (AWS asymmetric keys have no versions; GCP and Azure
//     references may pin a version, and without one the provider picks the
//     newest enabled version). Listing versioned references as separate
//     policy keys trusts several versions, but they then count as distinct
//     keys towards a threshold.
//
// Trusting only the latest version would make every rotation in the KMS an
// outage (every image signed before it fails at the next deploy) and makes
// verification racy around a rotation; it protects against nothing the
// all-versions rule does not, since whoever can sign with the key in Vault can
// sign with any version at or above min_encryption_version anyway, and
// whoever can add a version (rotate or import) makes it the latest too. The
// KMS stays the single source of truth for which versions are retired.
// cosign, for comparison, verifies hashivault:// through Vault's verify
// endpoint with the prefix "vault:v1:" unless VAULT_KEY_PREFIX is set, i.e.
// against exactly one version (v1 by default), so after a rotation it rejects
// new signatures until reconfigured, and then rejects the old ones.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/cliconfig"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/imgsign/imgsign/internal/errkind"
)

// ErrKMSKeyExists is wrapped by GenerateKMS's error when the reference
// already names a key: generate never adopts or replaces an existing key.
var ErrKMSKeyExists = errors.New("KMS key already exists")

// kmsOp is what imgsign was doing when a KMS call failed.
type kmsOp int

const (
	opLoad kmsOp = iota
	opPublic
	opSign
	opCreate
)

func (o kmsOp) doing() string {
	switch o {
	case opPublic:
		return "reading the public key of"
	case opSign:
		return "signing with"
	case opCreate:
		return "creating"
	}
	return "loading"
}

// kmsProvider describes one KMS scheme.
type kmsProvider struct {
	name   string // "hashivault": the scheme without "://", the error prefix
	scheme string
	// form is the reference syntax, for malformed-reference errors.
	form  string
	valid func(string) error
	// hashAware: the provider signs with the hash given to kms.Get when
	// no hash option is passed (so pure Ed25519 needs crypto.Hash(0)). The
	// cloud providers take the hash from the key's own algorithm instead.
	hashAware bool
	// algorithms maps the key types CreateKey can make to the provider's
	// algorithm names; createNote says what the provider cannot create.
	algorithms map[Type]string
	createNote string
	// needs names the permission op needs, for permission-denied errors.
	needs func(op kmsOp, ref string, hash crypto.Hash) string
}

var kmsProviders = []*kmsProvider{
	{
		name:   "awskms",
		scheme: aws.ReferenceScheme,
		form:   "awskms:///KEY_ID, awskms:///alias/NAME or awskms:///arn:aws:kms:REGION:ACCOUNT:key/KEY_ID (or …:alias/NAME); an endpoint may precede the path: awskms://HOST:PORT/alias/NAME",
		valid:  aws.ValidReference,
		algorithms: map[Type]string{
			TypeECDSAP256: "ECC_NIST_P256",
			TypeECDSAP384: "ECC_NIST_P384",
			TypeRSA3072:   "RSA_3072",
			TypeRSA4096:   "RSA_4096",
		},
		createNote: "sigstore's AWS provider creates ECC_NIST_P256/P384/P521 and RSA keys, not Ed25519",
		needs: func(op kmsOp, _ string, _ crypto.Hash) string {
			switch op {
			case opSign:
				return "kms:Sign on the key"
			case opCreate:
				return "kms:CreateKey, kms:CreateAlias and kms:DescribeKey"
			}
			return "kms:GetPublicKey and kms:DescribeKey on the key"
		},
	},
	{
		name:   "gcpkms",
		scheme: gcp.ReferenceScheme,
		form:   "gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY[/cryptoKeyVersions/VERSION]",
		valid:  gcp.ValidReference,
		algorithms: map[Type]string{
			TypeECDSAP256: gcp.AlgorithmECDSAP256SHA256,
			TypeECDSAP384: gcp.AlgorithmECDSAP384SHA384,
			TypeRSA3072:   gcp.AlgorithmRSAPKCS1v153072SHA256,
			TypeRSA4096:   gcp.AlgorithmRSAPKCS1v154096SHA256,
		},
		createNote: "sigstore's GCP provider creates EC P-256/P-384 and RSA keys, not Ed25519",
		needs: func(op kmsOp, _ string, _ crypto.Hash) string {
			switch op {
			case opSign:
				return "cloudkms.cryptoKeyVersions.useToSign (roles/cloudkms.signer)"
			case opCreate:
				return "cloudkms.keyRings.create and cloudkms.cryptoKeys.create (roles/cloudkms.admin)"
			}
			return "cloudkms.cryptoKeyVersions.viewPublicKey and cloudkms.cryptoKeyVersions.list (roles/cloudkms.publicKeyViewer and roles/cloudkms.viewer)"
		},
	},
	{
		name:   "azurekms",
		scheme: azure.ReferenceScheme,
		form:   "azurekms://VAULT_NAME.vault.azure.net/KEY_NAME[/VERSION]",
		valid:  azure.ValidReference,
		algorithms: map[Type]string{
			// The provider ignores the algorithm and always creates an EC key
			// on the default curve, P-256.
			TypeECDSAP256: "ES256",
		},
		createNote: "sigstore's Azure provider only creates EC P-256 keys; create other types with `az keyvault key create` and use the reference",
		needs: func(op kmsOp, _ string, _ crypto.Hash) string {
			switch op {
			case opSign:
				return `the key permission "sign" (Microsoft.KeyVault/vaults/keys/sign/action, role Key Vault Crypto User)`
			case opCreate:
				return `the key permission "create" (Microsoft.KeyVault/vaults/keys/create/action, role Key Vault Crypto Officer)`
			}
			return `the key permission "get" (Microsoft.KeyVault/vaults/keys/read, role Key Vault Crypto User or Key Vault Reader)`
		},
	},
	{
		name:      "hashivault",
		scheme:    hashivault.ReferenceScheme,
		form:      "hashivault://KEY_NAME (letters, digits, '_', '-', '.'; the server is VAULT_ADDR, the transit mount TRANSIT_SECRET_ENGINE_PATH, default transit)",
		valid:     hashivault.ValidReference,
		hashAware: true,
		algorithms: map[Type]string{
			TypeEd25519:   hashivault.AlgorithmED25519,
			TypeECDSAP256: hashivault.AlgorithmECDSAP256,
			TypeECDSAP384: hashivault.AlgorithmECDSAP384,
			TypeRSA3072:   hashivault.AlgorithmRSA3072,
			TypeRSA4096:   hashivault.AlgorithmRSA4096,
		},
		needs: func(op kmsOp, ref string, hash crypto.Hash) string {
			name, mount := vaultKeyName(ref), vaultMount()
			switch op {
			case opSign:
				p := mount + "/sign/" + name
				if s := vaultHashName(hash); s != "" {
					p += "/" + s
				}
				return `the "update" capability on ` + p
			case opCreate:
				return `the "create" and "update" capabilities on ` + mount + "/keys/" + name
			}
			return `the "read" capability on ` + mount + "/keys/" + name
		},
	},
}

// IsKMSRef reports whether ref is an awskms://, gcpkms://, azurekms:// or
// hashivault:// key reference.
func IsKMSRef(ref string) bool {
	return kmsProviderOf(ref) != nil
}

func kmsProviderOf(ref string) *kmsProvider {
	for _, p := range kmsProviders {
		if strings.HasPrefix(ref, p.scheme) {
			return p
		}
	}
	return nil
}

// kmsProviderFor returns ref's provider after checking ref's syntax.
func kmsProviderFor(ref string) (*kmsProvider, error) {
	p := kmsProviderOf(ref)
	if p == nil {
		return nil, errkind.Inputf("not a KMS key reference %s: use awskms://, gcpkms://, azurekms:// or hashivault://", DescribeRef(ref))
	}
	// Past this check ref is scheme, endpoint and key name only, so the
	// messages below may print it.
	if hasKMSExtras(ref) {
		return nil, errkind.Inputf("%s: key reference %s carries credentials or parameters: write %s, and give credentials the provider's usual way (environment, config file)", p.name, DescribeRef(ref), p.form)
	}
	if err := p.valid(ref); err != nil {
		return nil, errkind.Mark(errkind.Input, &kmsError{
			msg: fmt.Sprintf("%s: malformed key reference %s: expected %s", p.name, DescribeRef(ref), p.form),
			err: err,
		})
	}
	if p.name == "hashivault" && vaultAddr() == "" {
		return nil, errkind.Inputf("hashivault: VAULT_ADDR is not set: export VAULT_ADDR (e.g. https://vault.example.com:8200) and VAULT_TOKEN to use %s", DescribeRef(ref))
	}
	return p, nil
}

// LoadKMSSigner returns a Signer for the KMS key ref. It signs with the
// Sigstore default algorithm for the key (see NewSigner), and checks every
// signature the KMS returns against the key's public key, so a KMS key
// whose signing algorithm is not that one (an RSA-PSS key, say) fails at
// signing time rather than at verification.
func LoadKMSSigner(ctx context.Context, ref string) (*Signer, error) {
	p, err := kmsProviderFor(ref)
	if err != nil {
		return nil, err
	}
	sv, pub, err := p.load(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	details, err := algorithmFor(pub)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	hash := details.GetHashType()
	if p.hashAware && hash != crypto.SHA256 {
		// P-384 signs SHA-384 digests, P-521 SHA-512 and pure Ed25519 the
		// message itself (crypto.Hash(0)), as FromPrivateKey does.
		if sv, err = kms.Get(ctx, ref, hash); err != nil {
			return nil, p.wrap(opLoad, ref, hash, err)
		}
	}
	verifier, err := Verifier(pub)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return NewSigner(&kmsSignerVerifier{SignerVerifier: sv, p: p, ref: ref, pub: pub, hash: hash, details: details, verifier: verifier})
}

// LoadKMSPublic returns the public key of the KMS key ref: for a key with
// versions, the one the provider signs with (the latest).
func LoadKMSPublic(ctx context.Context, ref string) (crypto.PublicKey, error) {
	p, err := kmsProviderFor(ref)
	if err != nil {
		return nil, err
	}
	_, pub, err := p.load(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if _, err := algorithmFor(pub); err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return pub, nil
}

// LoadKMSPublicKeys returns the public keys a policy naming ref trusts: for
// hashivault://, every version of the key not below its
// min_decryption_version, oldest first (the latest is last); for the other
// providers, the single key LoadKMSPublic returns. See the comment at the top
// of this file for why.
func LoadKMSPublicKeys(ctx context.Context, ref string) ([]crypto.PublicKey, error) {
	p, err := kmsProviderFor(ref)
	if err != nil {
		return nil, err
	}
	if p.name != "hashivault" {
		pub, err := LoadKMSPublic(ctx, ref)
		if err != nil {
			return nil, err
		}
		return []crypto.PublicKey{pub}, nil
	}
	return p.vaultVersions(ctx, ref)
}

// GenerateKMS creates a key of type t at ref and returns its public key.
// It refuses (ErrKMSKeyExists, bad input) when ref already names a key, and
// key types the provider cannot create.
func GenerateKMS(ctx context.Context, ref string, t Type) (crypto.PublicKey, error) {
	p, err := kmsProviderFor(ref)
	if err != nil {
		return nil, err
	}
	if _, err := ParseType(string(t)); err != nil {
		return nil, err
	}
	alg, ok := p.algorithms[t]
	if !ok {
		var can []string
		for _, ty := range Types() {
			if _, ok := p.algorithms[ty]; ok {
				can = append(can, string(ty))
			}
		}
		return nil, errkind.Inputf("%s: cannot create %s keys: %s; types it can create: %s", p.name, t, p.createNote, strings.Join(can, ", "))
	}
	if p.name == "awskms" && !strings.Contains(ref, "alias/") {
		return nil, errkind.Inputf("awskms: creating a key needs an alias reference to name it (awskms:///alias/NAME), not %s", ref)
	}
	hash := crypto.SHA256
	switch t {
	case TypeEd25519:
		hash = crypto.Hash(0)
	case TypeECDSAP384:
		hash = crypto.SHA384
	}
	sv, err := kms.Get(ctx, ref, hash)
	if err != nil {
		return nil, p.wrap(opLoad, ref, hash, err)
	}
	switch pub, err := sv.PublicKey(options.WithContext(ctx)); {
	case err == nil:
		id, _ := ID(pub)
		return nil, errkind.Mark(errkind.Input, &kmsError{
			msg: fmt.Sprintf("%s: key %s already exists (%s, key id %s): keys generate never adopts or replaces a key; use it as it is, or rotate it in the KMS", p.name, ref, kmsKeyType(pub), id),
			err: ErrKMSKeyExists,
		})
	case !p.diagnose(err).notFound:
		return nil, p.wrap(opPublic, ref, hash, err)
	}
	if !slices.Contains(sv.SupportedAlgorithms(), alg) {
		return nil, errkind.Inputf("%s: the provider does not support algorithm %s for %s keys (it supports %s)", p.name, alg, t, strings.Join(sv.SupportedAlgorithms(), ", "))
	}
	pub, err := sv.CreateKey(ctx, alg)
	if err != nil {
		return nil, p.wrap(opCreate, ref, hash, err)
	}
	if got := kmsKeyType(pub); got != string(t) {
		return nil, errkind.Inputf("%s: created key %s is %s, not the %s asked for", p.name, ref, got, t)
	}
	if _, err := algorithmFor(pub); err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return pub, nil
}

// load gets ref's SignerVerifier and public key.
func (p *kmsProvider) load(ctx context.Context, ref string, hash crypto.Hash) (kms.SignerVerifier, crypto.PublicKey, error) {
	sv, err := kms.Get(ctx, ref, hash)
	if err != nil {
		return nil, nil, p.wrap(opLoad, ref, hash, err)
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, nil, p.wrap(opPublic, ref, hash, err)
	}
	return sv, pub, nil
}

// kmsSignerVerifier is a provider's SignerVerifier with errors that name
// the provider and the problem, the public key fetched once, and every
// signature checked before it is used.
type kmsSignerVerifier struct {
	kms.SignerVerifier
	p        *kmsProvider
	ref      string
	pub      crypto.PublicKey
	hash     crypto.Hash
	details  signature.AlgorithmDetails
	verifier signature.Verifier
}

func (k *kmsSignerVerifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.pub, nil
}

func (k *kmsSignerVerifier) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	var msg []byte
	if message != nil {
		var err error
		if msg, err = io.ReadAll(message); err != nil {
			return nil, fmt.Errorf("reading the message to sign: %w", err)
		}
	}
	sig, err := k.SignerVerifier.SignMessage(bytes.NewReader(msg), opts...)
	if err != nil {
		return nil, k.p.wrap(opSign, k.ref, k.hash, err)
	}
	var digest []byte
	var so crypto.SignerOpts = k.hash
	for _, o := range opts {
		o.ApplyDigest(&digest)
		o.ApplyCryptoSignerOpts(&so)
	}
	var vopts []signature.VerifyOption
	if len(digest) > 0 {
		vopts = append(vopts, options.WithDigest(digest))
	}
	if so != nil && so.HashFunc() != crypto.Hash(0) {
		vopts = append(vopts, options.WithCryptoSignerOpts(so.HashFunc()))
	}
	if err := k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg), vopts...); err != nil {
		id, _ := ID(k.pub)
		if k.p.name == "hashivault" {
			// The provider always asks Vault for PKCS#1 v1.5 and the right
			// hash, and Vault signs with the latest version: a signature
			// that does not verify means the key was rotated since its
			// public key was read (or the server is broken).
			return nil, errkind.Mark(errkind.Operational, &kmsError{
				msg: fmt.Sprintf("hashivault: the signature %s returned does not verify with the public key read before signing (key id %s): the key was probably rotated meanwhile; run again", k.ref, id),
				err: err,
			})
		}
		return nil, errkind.Mark(errkind.Input, &kmsError{
			msg: fmt.Sprintf("%s: the signature %s returned does not verify with its public key (key id %s) as %s, the algorithm Sigstore uses for this key: the KMS key must sign with that algorithm (not RSA-PSS or another hash)",
				k.p.name, k.ref, id, k.details.GetSignatureAlgorithm()),
			err: err,
		})
	}
	return sig, nil
}

// kmsError is a KMS failure rewritten as one line that names the provider
// and the problem; the provider's error stays in the chain.
type kmsError struct {
	msg string
	err error
}

func (e *kmsError) Error() string { return e.msg }
func (e *kmsError) Unwrap() error { return e.err }

// diagnosis is what a provider error says, whatever the provider.
type diagnosis struct {
	unreachable string // the network or TLS failure, if the endpoint was not reached
	status      int    // HTTP status, or its equivalent for a gRPC code
	code        string // provider error code (AWS, Azure, gRPC)
	detail      string // the server's message
	notFound    bool
	credentials bool // no usable local credentials
}

func (p *kmsProvider) diagnose(err error) diagnosis {
	var d diagnosis
	var ve *vault.ResponseError
	var ae *azcore.ResponseError
	var awsStatus interface{ HTTPStatusCode() int }
	var awsAPI interface {
		ErrorCode() string
		ErrorMessage() string
	}
	switch {
	case errors.As(err, &ve):
		d.status, d.detail = ve.StatusCode, vaultMessages(ve.Errors)
	case errors.As(err, &ae):
		d.status, d.code = ae.StatusCode, ae.ErrorCode
	case errors.As(err, &awsAPI):
		d.code, d.detail = awsAPI.ErrorCode(), awsAPI.ErrorMessage()
		if errors.As(err, &awsStatus) {
			d.status = awsStatus.HTTPStatusCode()
		}
		switch d.code {
		case "AccessDeniedException":
			d.status = http.StatusForbidden
		case "NotFoundException":
			d.status = http.StatusNotFound
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
			d.status = http.StatusUnauthorized
		}
	default:
		if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
			d.code, d.detail = st.Code().String(), st.Message()
			switch st.Code() {
			case codes.PermissionDenied:
				d.status = http.StatusForbidden
			case codes.Unauthenticated:
				d.status = http.StatusUnauthorized
			case codes.NotFound:
				d.status = http.StatusNotFound
			case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
				d.status = http.StatusBadRequest
			case codes.ResourceExhausted:
				d.status = http.StatusTooManyRequests
			case codes.Unavailable, codes.DeadlineExceeded:
				d.unreachable = st.Message()
			default:
				d.status = http.StatusInternalServerError
			}
		}
	}
	if d.status == http.StatusNotFound {
		d.notFound = true
	}
	msg := err.Error()
	switch {
	case d.status != 0:
	case p.name == "hashivault" && strings.Contains(msg, "could not read data from transit key path"):
		// Vault answers a read of a missing key (or of an unmounted
		// engine) with 404 and no data, which the API client returns as
		// "no secret" and the provider as this message.
		d.notFound = true
	case strings.Contains(msg, "VAULT_TOKEN") || strings.Contains(msg, "token helper") || strings.Contains(msg, ".vault-token") || strings.Contains(msg, "Vault token"),
		strings.Contains(msg, "could not find default credentials"),
		strings.Contains(msg, "failed to retrieve credentials"), strings.Contains(msg, "failed to refresh cached credentials"),
		strings.Contains(msg, "DefaultAzureCredential"):
		d.credentials = true
	default:
		var cve *tls.CertificateVerificationError
		var uae x509.UnknownAuthorityError
		var ope *net.OpError
		var dns *net.DNSError
		var ue *url.Error
		switch {
		case errors.As(err, &cve), errors.As(err, &uae):
			d.unreachable = "its TLS certificate is not trusted: " + innermost(err)
		case errors.As(err, &ope):
			d.unreachable = ope.Error()
		case errors.As(err, &dns):
			d.unreachable = dns.Error()
		case errors.Is(err, context.DeadlineExceeded):
			d.unreachable = "timed out"
		case errors.As(err, &ue) && (ue.Timeout() || errors.Is(ue.Err, io.EOF)):
			d.unreachable = ue.Err.Error()
		}
	}
	return d
}

// wrap turns a provider error into one naming the provider and the problem,
// classified: unreachable, refused credentials, permission denied and server
// failures are operational (exit 3); a missing key, missing credentials,
// local configuration and a request the KMS rejects are bad input (exit 2).
func (p *kmsProvider) wrap(op kmsOp, ref string, hash crypto.Hash, err error) error {
	if err == nil {
		return nil
	}
	d := p.diagnose(err)
	kind := errkind.Operational
	var msg string
	detail := d.detail
	if detail == "" {
		detail = oneLine(err.Error())
	}
	switch {
	case d.unreachable != "":
		msg = fmt.Sprintf("%s: cannot reach %s: %s", p.name, p.endpoint(ref), oneLine(d.unreachable))
	case d.credentials:
		kind = errkind.Input
		msg = fmt.Sprintf("%s: %s %s: no usable credentials: %s (%s)", p.name, op.doing(), ref, p.credentialHint(), detail)
	case d.status == http.StatusUnauthorized || d.status == http.StatusForbidden:
		what := "permission denied"
		if d.status == http.StatusUnauthorized {
			what = "credentials rejected"
		}
		code := fmt.Sprintf("HTTP %d", d.status)
		if d.code != "" {
			code = d.code
		}
		who := "the caller needs"
		if p.name == "hashivault" {
			who = "the Vault token is invalid or lacks"
		}
		msg = fmt.Sprintf("%s: %s (%s) %s %s at %s: %s %s (%s)", p.name, what, code, op.doing(), ref, p.endpoint(ref), who, p.needs(op, ref, hash), detail)
	case d.notFound:
		kind = errkind.Input
		msg = fmt.Sprintf("%s: key %s not found at %s", p.name, ref, p.endpoint(ref))
		if p.name == "hashivault" {
			msg += fmt.Sprintf(" (no key %q in the transit engine mounted at %q, or no such mount: set TRANSIT_SECRET_ENGINE_PATH)", vaultKeyName(ref), vaultMount())
		}
		if op != opCreate {
			msg += fmt.Sprintf(": create it with `imgsign keys generate --kms %s --type ecdsa-p256`, or check the name", ref)
		}
		if d.detail != "" {
			msg += " (" + d.detail + ")"
		}
	case d.status >= 400 && d.status < 500 && d.status != http.StatusTooManyRequests:
		kind = errkind.Input
		msg = fmt.Sprintf("%s: %s %s: refused (%s): %s", p.name, op.doing(), ref, statusText(d), detail)
	case d.status != 0:
		msg = fmt.Sprintf("%s: %s %s: the KMS failed (%s): %s", p.name, op.doing(), ref, statusText(d), detail)
	default:
		if op == opLoad {
			// Setting up a provider's client makes no request: what fails
			// there is local configuration (a VAULT_ADDR that does not
			// parse, a broken AWS profile, …).
			kind = errkind.Input
		}
		msg = fmt.Sprintf("%s: %s %s: %s", p.name, op.doing(), ref, oneLine(err.Error()))
	}
	return errkind.Mark(kind, &kmsError{msg: msg, err: err})
}

func statusText(d diagnosis) string {
	if d.code != "" {
		return fmt.Sprintf("HTTP %d %s", d.status, d.code)
	}
	return fmt.Sprintf("HTTP %d", d.status)
}

// endpoint describes where ref's provider sends requests.
func (p *kmsProvider) endpoint(ref string) string {
	switch p.name {
	case "hashivault":
		return "VAULT_ADDR " + vaultAddr()
	case "azurekms":
		host, _, _ := strings.Cut(strings.TrimPrefix(ref, p.scheme), "/")
		return "Azure Key Vault " + host
	case "awskms":
		if host, _, _ := strings.Cut(strings.TrimPrefix(ref, p.scheme), "/"); host != "" {
			return "AWS KMS endpoint https://" + host
		}
		return "AWS KMS"
	}
	return "Google Cloud KMS"
}

func (p *kmsProvider) credentialHint() string {
	switch p.name {
	case "hashivault":
		return "set VAULT_TOKEN (or run `vault login`, which writes ~/.vault-token)"
	case "awskms":
		return "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and AWS_REGION"
	case "azurekms":
		return "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
	}
	return "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"
}

// vaultMessages joins Vault's error strings ("1 error occurred:\n\t* permission
// denied\n\n") into one line.
func vaultMessages(errs []string) string {
	var out []string
	for _, e := range errs {
		e = strings.ReplaceAll(e, "\t* ", "")
		if _, rest, ok := strings.Cut(e, "error occurred:"); ok {
			e = rest
		} else if _, rest, ok := strings.Cut(e, "errors occurred:"); ok {
			e = rest
		}
		if e = oneLine(e); e != "" {
			out = append(out, e)
		}
	}
	return strings.Join(out, "; ")
}

// oneLine collapses whitespace runs, newlines included, to single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// kmsKeyType names pub the way --type does ("ecdsa-p256", "rsa-3072"…).
func kmsKeyType(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return string(TypeEd25519)
	case *ecdsa.PublicKey:
		return "ecdsa-p" + strconv.Itoa(k.Curve.Params().BitSize)
	case *rsa.PublicKey:
		return "rsa-" + strconv.Itoa(k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// Vault settings, read the way sigstore's hashivault provider reads them.

func vaultAddr() string {
	if a := os.Getenv("VAULT_ADDR"); a != "" {
		return a
	}
	return os.Getenv("BAO_ADDR")
}

func vaultMount() string {
	if m := os.Getenv("TRANSIT_SECRET_ENGINE_PATH"); m != "" {
		return m
	}
	return "transit"
}

func vaultKeyName(ref string) string { return strings.TrimPrefix(ref, hashivault.ReferenceScheme) }

// vaultHashName is the transit API's name for h, as the provider puts it in
// the sign path; "" for pure Ed25519.
func vaultHashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA224:
		return "sha2-224"
	case crypto.SHA256:
		return "sha2-256"
	case crypto.SHA384:
		return "sha2-384"
	case crypto.SHA512:
		return "sha2-512"
	}
	return ""
}

func vaultToken() string {
	if t := os.Getenv("VAULT_TOKEN"); t != "" {
		return t
	}
	if t := os.Getenv("BAO_TOKEN"); t != "" {
		return t
	}
	if h, err := cliconfig.DefaultTokenHelper(); err == nil && h != nil {
		if t, err := h.Get(); err == nil {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// vaultVersions reads every version of a transit key that Vault would still
// verify (not below min_decryption_version), oldest first. The provider
// only ever reads the latest, so this talks to Vault's API itself, with the
// same settings the provider uses.
func (p *kmsProvider) vaultVersions(ctx context.Context, ref string) ([]crypto.PublicKey, error) {
	client, err := vault.NewClient(&vault.Config{Address: vaultAddr()})
	if err != nil {
		return nil, errkind.Inputf("hashivault: VAULT_ADDR %s: %s", vaultAddr(), oneLine(err.Error()))
	}
	token := vaultToken()
	if token == "" {
		return nil, errkind.Inputf("hashivault: %s %s: no Vault token: %s", opPublic.doing(), ref, p.credentialHint())
	}
	client.SetToken(token)
	path := vaultMount() + "/keys/" + vaultKeyName(ref)
	secret, err := client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, p.wrap(opPublic, ref, 0, err)
	}
	if secret == nil {
		return nil, p.wrap(opPublic, ref, 0, fmt.Errorf("could not read data from transit key path: %s", path))
	}
	corrupt := func(format string, args ...any) error {
		return errkind.Operationalf("hashivault: %s %s: unexpected response from VAULT_ADDR %s: %s", opPublic.doing(), ref, vaultAddr(), fmt.Sprintf(format, args...))
	}
	keysData, ok := secret.Data["keys"].(map[string]any)
	if !ok {
		return nil, corrupt("no keys map")
	}
	minDec := 1
	if n, ok := secret.Data["min_decryption_version"].(json.Number); ok {
		if v, err := n.Int64(); err == nil && v > 1 {
			minDec = int(v)
		}
	}
	type ver struct {
		n   int
		pub crypto.PublicKey
	}
	var vers []ver
	for k, raw := range keysData {
		n, err := strconv.Atoi(k)
		if err != nil {
			return nil, corrupt("key version %q", k)
		}
		if n < minDec {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, corrupt("version %d is not an object", n)
		}
		s, _ := m["public_key"].(string)
		var pub crypto.PublicKey
		if m["name"] == "ed25519" {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return nil, corrupt("version %d: bad Ed25519 public key", n)
			}
			pub = ed25519.PublicKey(b)
		} else if pub, err = cryptoutils.UnmarshalPEMToPublicKey([]byte(s)); err != nil {
			return nil, corrupt("version %d: %v", n, err)
		}
		if _, err := algorithmFor(pub); err != nil {
			return nil, fmt.Errorf("key %s version %d: %w", ref, n, err)
		}
		vers = append(vers, ver{n, pub})
	}
	if len(vers) == 0 {
		return nil, corrupt("no key versions at or above min_decryption_version %d", minDec)
	}
	sort.Slice(vers, func(i, j int) bool { return vers[i].n < vers[j].n })
	pubs := make([]crypto.PublicKey, len(vers))
	for i, v := range vers {
		pubs[i] = v.pub
	}
	return pubs, nil
}
