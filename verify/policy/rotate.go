package policy

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
)

// RotateRequest asks Rotate to replace a policy key by a successor.
type RotateRequest struct {
	// PolicyFile is the trust policy to edit in place.
	PolicyFile string
	// OldName is the policy key being replaced; NewName names its
	// successor, which the policy must not define yet.
	OldName, NewName string

	// The successor comes from the first of these that is set: a new key
	// in a KMS at the URI KMS (the policy names the KMS key, so versions
	// rotated inside the KMS stay trusted); a new key on a PKCS#11 token
	// at the URI PKCS11 (its public key is written next to the policy,
	// named NewName.pub); the existing key reference NewKey (trusted
	// through its own .pub file when there is one, else one written next
	// to the policy, or by its URI if it is a KMS key); else a new key
	// pair Out.key/Out.pub, Out defaulting to NewName next to the policy.
	KMS, PKCS11, NewKey, Out string
	// Type is the generated successor's key type as --type spells it. It
	// is only parsed when a key is generated (or for PKCS11).
	Type string

	// Overlap is how long the old key stays valid from now on; a
	// validUntil it already has that ends sooner is kept.
	Overlap time.Duration
	// DryRun computes the edit and its diff and writes nothing: no key is
	// generated, and no file written.
	DryRun bool
	// Access is how passphrases and PINs are asked for.
	Access keys.Access
	// Now is the rotation time; zero means the current time. It is used in
	// UTC and whole seconds.
	Now time.Time
}

// RotateResult is what Rotate did. When Rotate fails, it holds what had
// been done before the failure (KeyFiles, Diff), for the caller to show.
type RotateResult struct {
	// KeyFiles is the key pair generated into key files, nil when the
	// successor lives elsewhere or already existed.
	KeyFiles *keys.NewKey
	// Diff is the unified diff of the policy edit.
	Diff string
	// SignerRef is the key reference to sign with as the successor.
	SignerRef string
	// Until is when the old key stops counting.
	Until time.Time
	// Rules names the rules that now list the successor beside the old key.
	Rules []string
	// SharedThreshold are the rules needing more than one distinct key that
	// list the successor: until Until the old and new key both count, so
	// whoever holds both could meet the threshold alone.
	SharedThreshold []*Rule
}

// Rotate replaces the policy key OldName by a successor with an overlap:
// it makes or finds the successor, adds it to the policy right after the
// old key with validFrom now, lists it next to the old key in every rule,
// and sets the old key's validUntil to now + Overlap, keeping the policy's
// comments and order. Signatures by the old key keep verifying until the
// overlap ends. The edited policy must load, or nothing is written to it.
func Rotate(ctx context.Context, req RotateRequest) (RotateResult, error) {
	var res RotateResult
	doc, err := OpenDocument(req.PolicyFile)
	if err != nil {
		return res, err
	}
	if !doc.HasKey(req.OldName) {
		return res, errkind.Inputf("%s has no key named %q", doc.Path, req.OldName)
	}
	if doc.HasKey(req.NewName) {
		return res, errkind.Inputf("%s already has a key named %q: choose another --new-name", doc.Path, req.NewName)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	policyDir := filepath.Dir(doc.Path)

	publicKeyValue, err := req.successor(ctx, policyDir, &res)
	if err != nil {
		return res, err
	}
	rel := publicKeyValue
	if !keys.IsKMSRef(publicKeyValue) {
		r, err := filepath.Rel(policyDir, publicKeyValue)
		if err != nil || strings.HasPrefix(r, "..") {
			r, _ = filepath.Abs(publicKeyValue)
		}
		rel = r
	}

	until := now.Add(req.Overlap)
	if cur, ok := doc.KeyTime(req.OldName, "validUntil"); ok && cur.Before(until) {
		until = cur // never extend a key's life by rotating it
	}
	if err := doc.AddKeyAfter(req.OldName, req.NewName, rel, now); err != nil {
		return res, err
	}
	if err := doc.SetKeyTime(req.OldName, "validUntil", until); err != nil {
		return res, err
	}
	rules := doc.AddKeyToRules(req.OldName, req.NewName)
	if res.Diff, err = doc.Write(req.DryRun); err != nil {
		return res, err
	}
	res.Until, res.Rules = until, rules
	if out, err := doc.Bytes(); err == nil {
		if p, err := Parse(out, policyDir); err == nil {
			for _, r := range p.Rules {
				if r.Signatures != nil && r.Signatures.Threshold > 1 && slices.Contains(r.Signatures.Keys, req.NewName) {
					res.SharedThreshold = append(res.SharedThreshold, r)
				}
			}
		}
	}
	return res, nil
}

// successor makes or finds the new key, sets res.SignerRef (and
// res.KeyFiles for a generated key pair), and returns what the policy's
// publicKey for it is to say: a KMS URI or a public key file.
func (req *RotateRequest) successor(ctx context.Context, policyDir string, res *RotateResult) (string, error) {
	dry := req.DryRun
	pubFile := func(pub crypto.PublicKey) (string, error) {
		p := filepath.Join(policyDir, req.NewName+".pub")
		if dry || pub == nil {
			return p, nil
		}
		return p, keys.WritePublicFile(pub, p)
	}
	switch {
	case req.KMS != "":
		res.SignerRef = req.KMS
		if !dry {
			t, err := keys.ParseType(req.Type)
			if err != nil {
				return "", err
			}
			if _, err := keys.KMS.Generate(ctx, req.KMS, keys.GenerateOptions{Type: t}, req.Access); err != nil {
				return "", err
			}
		}
		return req.KMS, nil
	case req.PKCS11 != "":
		res.SignerRef = req.PKCS11
		t, err := keys.ParseType(req.Type)
		if err != nil {
			return "", err
		}
		var pub crypto.PublicKey
		if !dry {
			k, err := keys.PKCS11.Generate(ctx, req.PKCS11, keys.GenerateOptions{Type: t}, req.Access)
			if err != nil {
				return "", err
			}
			pub = k.Public
		}
		return pubFile(pub)
	case req.NewKey != "":
		ref := req.NewKey
		res.SignerRef = ref
		if keys.IsKMSRef(ref) {
			return ref, nil
		}
		pub, err := keys.BackendFor(ref).LoadPublic(ctx, ref, req.Access)
		if err != nil {
			return "", err
		}
		value := strings.TrimSuffix(ref, ".key") + ".pub"
		if _, err := os.Stat(value); err != nil || keys.IsPKCS11Ref(ref) {
			return pubFile(pub)
		}
		return value, nil
	}
	out := req.Out
	if out == "" {
		out = filepath.Join(policyDir, req.NewName)
	}
	out = strings.TrimSuffix(out, ".key")
	res.SignerRef = out + ".key"
	if dry {
		return out + ".pub", nil
	}
	t, err := keys.ParseType(req.Type)
	if err != nil {
		return "", err
	}
	k, err := keys.KeyFiles.Generate(ctx, out, keys.GenerateOptions{Type: t}, req.Access)
	if err != nil {
		return "", err
	}
	res.KeyFiles = k
	return k.PublicFile, nil
}
