package verify

import (
	"fmt"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/verify/policy"
)

// Offline checks that verifying under p reaches nothing but the images'
// registries (verify --offline): public keys, certificate chains and trust
// roots are read from files or from imgsign itself; KMS-backed keys would
// be fetched over the network, and x509 signers with revocation: enforce
// would ask the OCSP and CRL servers their chains name (docs/offline.md
// has the whole list). A policy that needs the network is an errkind.Input
// error, one line naming each such key or signer, returned before any
// connection is attempted.
func Offline(p *policy.Policy) error {
	var kms []*policy.Key
	for _, k := range p.Keys {
		if k.KMSRef != "" && k.Trusted == nil {
			kms = append(kms, k)
		}
	}
	switch {
	case len(kms) == 0:
		return offlineRevocation(p)
	case len(p.Rules) == 1 && p.Rules[0].Name == policy.OneKeyRule:
		return OfflineKey(kms[0].KMSRef)
	case len(kms) == 1:
		k := kms[0]
		return errkind.Inputf("--offline: policy key %s is a KMS key (%s), which verify would fetch from the KMS: export its public key once (imgsign keys public --key %s > %s.pub) and name the file in the policy, or verify without --offline",
			k.Name, k.KMSRef, k.KMSRef, fileName(k.Name))
	}
	var names []string
	for _, k := range kms {
		names = append(names, fmt.Sprintf("%s (%s)", k.Name, k.KMSRef))
	}
	return errkind.Inputf("--offline: policy keys %s are KMS keys, which verify would fetch from the KMS: export their public keys once (imgsign keys public --key REF > NAME.pub) and name the files in the policy, or verify without --offline",
		strings.Join(names, ", "))
}

// offlineRevocation refuses x509 signers whose revocation is enforced
// (notation's strict level, the default). Offline no OCSP or CRL server can
// be asked, so their revocation status is unknown; verifying them anyway
// would turn a signature whose certificate is revoked, which fails online
// (and fails in an air gap without --offline: status unknown), into a PASS
// under --offline. That is a check dropped, not a connection refused, so it
// fails closed here, before any connection: the user says
// `revocation: skip` (or log) on the signer to verify without revocation
// checks.
func offlineRevocation(p *policy.Policy) error {
	var names []string
	for _, s := range p.X509Signers {
		if s.Revocation == "" || s.Revocation == policy.ActionEnforce {
			names = append(names, s.Name)
		}
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		return errkind.Inputf("--offline: x509 signer %s checks revocation (revocation: enforce), which asks the OCSP and CRL servers its certificates name: set revocation: skip (or log) on it to verify without revocation checks, or verify without --offline", safetext.Clean(names[0]))
	}
	return errkind.Inputf("--offline: x509 signers %s check revocation (revocation: enforce), which asks the OCSP and CRL servers their certificates name: set revocation: skip (or log) on them to verify without revocation checks, or verify without --offline", safetext.Clean(strings.Join(names, ", ")))
}

// fileName is a key name as a file name in a suggested command.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == ' ' || r < ' ' {
			return '-'
		}
		return r
	}, name)
}

// OfflineKey is the error of a --key that is a KMS reference under
// --offline (verify --key, verify-blob --key).
func OfflineKey(ref string) error {
	return errkind.Inputf("--offline: --key %s is a KMS key, which would be fetched from the KMS: export its public key once (imgsign keys public --key %s > key.pub) and pass --key key.pub, or run without --offline", ref, ref)
}
