// Package policy is imgsign's trust-policy model (docs/policy.md is its
// reference).
//
// It loads the YAML trust policy strictly — every problem is reported with
// the file, line and field path, all at once — resolves the public keys the
// policy trusts, and answers the two questions the verify engine asks of it:
// which rule governs a repository (Match: the most specific scope wins, and
// a miss or a tie fails closed) and whether a key was valid at a signature's
// trusted time (TrustedKey.CheckAt).
//
// The types are plain data for the verify engine, `imgsign policy check` and
// `imgsign keys rotate`. Parsing walks go.yaml.in/yaml/v3 Nodes, so every
// element keeps the line it was written on (Pos).
package policy

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify/conditions"
)

// Version is the only policy format version this package reads.
const Version = 1

// maxPolicyBytes bounds how much of a policy file Load reads.
const maxPolicyBytes = 4 << 20

// Mode says what a rule's verdict does to the exit code.
type Mode string

const (
	// ModeEnforce rejects an image that does not satisfy the rule (exit 1).
	ModeEnforce Mode = "enforce"
	// ModeAudit reports the verdict but lets the image through (exit 0).
	ModeAudit Mode = "audit"
)

// Pos is where an element was written: its 1-based line in the policy file
// (0 when unknown) and its field path, e.g. "policies[0].signatures".
type Pos struct {
	Line int
	Path string
}

// Policy is a loaded, validated trust policy.
type Policy struct {
	Version int
	// File is the path given to Load; "" when the policy came from Parse.
	File string
	// Dir is the directory relative key and certificate paths resolve against.
	Dir                  string
	Keys                 []*Key
	TimestampAuthorities []*TimestampAuthority
	// TrustRoots are the Sigstore trust roots identities are valid under.
	TrustRoots []*TrustRoot
	// Identities are the certificate identities trusted as signers. Rules
	// name them as they name keys.
	Identities []*Identity
	// TrustStores are the X.509 certificates Notary Project signatures
	// chain to; X509Signers the signers known by them. Rules name x509
	// signers as they name keys.
	TrustStores []*TrustStore
	X509Signers []*X509Signer
	// Mirrors map repositories of a copy to the canonical names they are
	// copies of, before any scope is matched (Canonical, MatchScope).
	Mirrors []*Mirror
	// Rules are the entries of policies[], in file order.
	Rules []*Rule
}

// Key is one entry of keys[]: a named public key and its validity window.
type Key struct {
	Pos
	Name string
	// PublicKey is the value as written: inline PEM, a path or a KMS ref.
	PublicKey string
	// File is the public key file, resolved against the policy's directory;
	// "" for inline PEM and KMS refs.
	File string
	// KMSRef is set when PublicKey is an awskms://, gcpkms://, azurekms:// or
	// hashivault:// reference; such keys are not resolved by Load and Trusted
	// stays nil until they are.
	KMSRef                           string
	ValidFrom, ValidUntil, RevokedAt *time.Time
	// Trusted is the resolved key; nil for a KMS ref not yet resolved. For
	// a KMS key it is the latest version.
	Trusted *TrustedKey
	// Versions are every public key the entry trusts: Trusted for a PEM key,
	// each version the KMS still verifies for a KMS key (oldest first). They
	// share the entry's name, window and revocation, and count as one key.
	Versions []*TrustedKey
}

// TimestampAuthority is one entry of timestampAuthorities[].
type TimestampAuthority struct {
	Pos
	Name string
	// CertChain is the value as written: a path or inline PEM.
	CertChain string
	// Chain is the parsed chain, leaf first and root last.
	Chain []*x509.Certificate
	// File is CertChain resolved against the policy's directory; "" when
	// CertChain is inline PEM. The file is not read by Load.
	File string
}

// Rule is one entry of policies[]: what an image in its scopes must carry.
type Rule struct {
	Pos
	Name   string
	Scopes []Scope
	Mode   Mode
	// Signatures is nil when the rule requires no plain image signature.
	Signatures   *SignatureRule
	Attestations []*AttestationRule
	// Compliance is nil when the rule has no compliance section.
	Compliance *ComplianceRule
}

// ComplianceRule holds the checks container platforms run before deploy,
// over the image config and the image's verified attestations.
type ComplianceRule struct {
	Pos
	// NonRootUser requires the config's User to be set and not root or 0.
	NonRootUser bool
	// NoSecretsInEnv rejects credentials in env, labels and history.
	NoSecretsInEnv bool
	// AllowedBaseImages are globs the provenance's image dependencies must match.
	AllowedBaseImages []string
	// MaxSeverity is the worst vulnerability severity allowed (upper case).
	MaxSeverity string
	// Keys sign the attestations compliance reads (names of keys or
	// identities); empty means the keys of the rule's attestation entry of
	// that type.
	Keys []string
}

// SignatureRule requires Threshold signatures by distinct signers among Keys.
type SignatureRule struct {
	Pos
	// Keys are names of entries of Policy.Keys or Policy.Identities (the
	// signers), each listed once.
	Keys []string
	// Threshold is in 1..len(Keys); it defaults to 1.
	Threshold int
	// RequireTimestamp requires an RFC 3161 timestamp from a policy TSA.
	RequireTimestamp bool
	// BindTag makes verifying repo:tag count only signatures that name that
	// tag (the dev.imgsign.tag subject annotation `imgsign sign` records).
	BindTag bool
}

// AttestationRule requires Threshold attestations of Type, signed by distinct
// signers among Keys, whose statements satisfy every condition.
type AttestationRule struct {
	Pos
	// Type is the in-toto predicateType, an absolute URI.
	Type string
	// Keys name keys or identities, as SignatureRule.Keys.
	Keys      []string
	Threshold int
	// MaxAge, when set, rejects attestations older than this: age is judged
	// from the time the signer wrote into the predicate; a trusted timestamp
	// can only make an attestation older, never younger (anyone can get a
	// fresh one for an old signature).
	MaxAge time.Duration
	// Conditions are the CEL conditions, the convenience fields first
	// (builderId, sourceRepository, sourceRef, buildType), compiled.
	Conditions []Condition
}

// Condition is one CEL expression over the statement.
type Condition struct {
	Pos
	Expr string
	// Label is set for conditions generated from a convenience field
	// ("builderId: https://…"); output shows it instead of the CEL.
	Label   string
	Program *conditions.Condition
}

// Load reads and validates the trust policy at path. Relative key and
// certificate paths in it resolve against the file's directory. A policy
// with problems yields an errkind.Input error wrapping Problems.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.Inputf("cannot read trust policy %s: %w", path, pathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, errkind.Inputf("cannot read trust policy %s: %w", path, pathErr(err))
	}
	if len(data) > maxPolicyBytes {
		return nil, errkind.Inputf("trust policy %s is larger than %d MiB: is it the right file?", path, maxPolicyBytes>>20)
	}
	return parse(data, path, filepath.Dir(path))
}

// Parse validates a trust policy held in memory. Relative key and
// certificate paths resolve against baseDir ("" means the working
// directory). Problems carry no file name.
func Parse(data []byte, baseDir string) (*Policy, error) {
	return parse(data, "", baseDir)
}

// Key returns the resolved key named name, or nil when there is none or the
// key is a KMS ref not resolved yet.
func (p *Policy) Key(name string) *TrustedKey {
	for _, k := range p.Keys {
		if k.Name == name {
			return k.Trusted
		}
	}
	return nil
}

// Identity returns the identity named name, or nil.
func (p *Policy) Identity(name string) *Identity {
	for _, id := range p.Identities {
		if id.Name == name {
			return id
		}
	}
	return nil
}

// KeyByID returns the resolved key whose key id (keys.ID, the bundle's
// publicKey hint) is id, or nil.
func (p *Policy) KeyByID(id string) *TrustedKey {
	for _, k := range p.Keys {
		if k.Trusted != nil && k.Trusted.ID == id {
			return k.Trusted
		}
		for _, v := range k.Versions {
			if v.ID == id {
				return v
			}
		}
	}
	return nil
}

// KMSKeys reports whether any key is a KMS reference that ResolveKMS must fetch.
func (p *Policy) KMSKeys() bool {
	for _, k := range p.Keys {
		if k.KMSRef != "" && k.Trusted == nil {
			return true
		}
	}
	return false
}

// ResolveKMS fetches the public keys of KMS-backed policy keys — every
// version the KMS still verifies — once per policy load. fetch is
// keys.LoadKMSPublicKeys; it is a parameter so this package stays free of
// KMS clients.
func (p *Policy) ResolveKMS(ctx context.Context, fetch func(context.Context, string) ([]crypto.PublicKey, error)) error {
	seen := map[string]string{}
	for _, k := range p.Keys {
		for _, v := range k.Versions {
			seen[v.ID] = k.Name
		}
	}
	for _, k := range p.Keys {
		if k.KMSRef == "" || k.Trusted != nil {
			continue
		}
		pubs, err := fetch(ctx, k.KMSRef)
		if err != nil {
			return fmt.Errorf("policy key %s (%s): %w", k.Name, k.KMSRef, err)
		}
		for _, pub := range pubs {
			id, err := keys.ID(pub)
			if err != nil {
				return err
			}
			if other, dup := seen[id]; dup && other != k.Name {
				return errkind.Inputf("policy keys %s and %s are the same key (id %s): give one key one name", other, k.Name, id)
			}
			seen[id] = k.Name
			k.Versions = append(k.Versions, &TrustedKey{Name: k.Name, ID: id, Public: pub, ValidFrom: k.ValidFrom, ValidUntil: k.ValidUntil, RevokedAt: k.RevokedAt})
		}
		if len(k.Versions) == 0 {
			return errkind.Inputf("policy key %s (%s): the KMS returned no public key", k.Name, k.KMSRef)
		}
		k.Trusted = k.Versions[len(k.Versions)-1]
	}
	return nil
}

// Rule returns the rule named name, or nil.
func (p *Policy) Rule(name string) *Rule {
	for _, r := range p.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// pathErr drops the *fs.PathError wrapper when the caller names the path.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
