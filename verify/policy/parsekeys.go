package policy

// The keys and timestampAuthorities sections: public keys (files, inline
// PEM, KMS references) resolved to key ids, and TSA certificate chains.

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/keys"
)

const (
	// maxKeyFileBytes bounds how much of a public key file is read.
	maxKeyFileBytes = 64 << 10
)

// kmsSchemes are the KMS key references sigstore's kms packages take.
var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// keys reads the keys section; an empty list is a problem unless the
// policy trusts identities.
func (p *parser) keys(raw *yaml.Node, haveIdentities bool) []*Key {
	items, ok := p.list(raw, "keys")
	if !ok {
		return nil
	}
	if len(items) == 0 && !haveIdentities {
		p.addf(raw.Line, "keys", "the policy trusts no keys: list at least one")
	}
	var out []*Key
	for i, item := range items {
		if k := p.key(item, index("keys", i)); k != nil {
			out = append(out, k)
		}
	}
	// One key, one name: two names for one key id would make reports and
	// thresholds ambiguous.
	byID := map[string]*Key{}
	byRef := map[string]*Key{}
	for _, k := range out {
		switch {
		case k.Trusted != nil:
			if first, dup := byID[k.Trusted.ID]; dup {
				p.addf(k.Line, k.Path+".publicKey", "key %q is the same key (id %s) as key %q (line %d): give one key one name",
					k.Name, k.Trusted.ID, first.Name, first.Line)
				continue
			}
			byID[k.Trusted.ID] = k
		case k.KMSRef != "":
			if first, dup := byRef[k.KMSRef]; dup {
				p.addf(k.Line, k.Path+".publicKey", "key %q is the same KMS key as key %q (line %d): give one key one name",
					k.Name, first.Name, first.Line)
				continue
			}
			byRef[k.KMSRef] = k
		}
	}
	return out
}

func (p *parser) key(raw *yaml.Node, path string) *Key {
	f, ok := p.fields(raw, path, keyFields, "name", "publicKey")
	if !ok {
		return nil
	}
	k := &Key{Pos: Pos{Line: raw.Line, Path: path}}
	if v, ok := f["name"]; ok {
		k.Name = p.uniqueName(v, join(path, "name"), "key", p.keyNames)
	}
	k.ValidFrom, k.ValidUntil, k.RevokedAt = p.window(f, path)
	if v, ok := f["publicKey"]; ok {
		if s, ok := p.nonEmptyStr(v, join(path, "publicKey")); ok {
			k.PublicKey = s
			p.resolveKey(k, v.Line, join(path, "publicKey"))
		}
	}
	return k
}

// resolveKey classifies publicKey and, for PEM keys, parses it.
func (p *parser) resolveKey(k *Key, line int, path string) {
	name := k.Name
	if name == "" {
		name = "(unnamed)"
	}
	ref := strings.TrimSpace(k.PublicKey)
	var data []byte
	var where string
	switch {
	case strings.HasPrefix(ref, "-----BEGIN"):
		data, where = []byte(ref), "inline public key"
	case slices.ContainsFunc(kmsSchemes, func(s string) bool { return strings.HasPrefix(ref, s) }):
		if _, rest, _ := strings.Cut(ref, "://"); rest == "" {
			p.addf(line, path, "key %q: KMS reference %q names no key", name, clip(ref))
			return
		}
		k.KMSRef = ref
		return
	case strings.HasPrefix(ref, "pkcs11:"):
		p.addf(line, path, "key %q: a policy trusts public keys, not HSM objects: export it with `imgsign keys public --key 'pkcs11:…' > %s.pub` and name the file", name, name)
		return
	case strings.Contains(ref, "://"):
		scheme, _, _ := strings.Cut(ref, "://")
		p.addf(line, path, "key %q: unsupported key reference scheme %q: use a PEM file path, inline PEM, or awskms://, gcpkms://, azurekms://, hashivault://", name, clip(scheme))
		return
	default:
		file := ref
		if !filepath.IsAbs(file) {
			file = filepath.Join(p.dir, file)
		}
		k.File = file
		b, err := readKeyFile(file)
		if err != nil {
			p.addf(line, path, "key %q: %s", name, unreadableKeyFile(ref, file, err))
			return
		}
		data, where = b, "public key file "+file
	}
	if block, _ := pem.Decode(data); block != nil && strings.Contains(block.Type, "PRIVATE KEY") {
		p.addf(line, path, "key %q: %s holds a PRIVATE key: the policy needs the public key (imgsign keys public --key …); keep the private key out of the policy", name, where)
		return
	}
	pub, err := keys.ParsePublicPEM(data)
	if err != nil {
		p.addf(line, path, "key %q: %s: %v", name, where, err)
		return
	}
	id, err := keys.ID(pub)
	if err != nil {
		p.addf(line, path, "key %q: %s: %v", name, where, err)
		return
	}
	k.Trusted = &TrustedKey{Name: k.Name, ID: id, Public: pub, ValidFrom: k.ValidFrom, ValidUntil: k.ValidUntil, RevokedAt: k.RevokedAt}
	k.Versions = []*TrustedKey{k.Trusted}
}

// readKeyFile reads a regular file of bounded size (never a device or FIFO).
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathErr(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, pathErr(err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("larger than %d KiB: not a public key", maxKeyFileBytes>>10)
	}
	return b, nil
}

func (p *parser) tsas(raw *yaml.Node) []*TimestampAuthority {
	items, ok := p.list(raw, "timestampAuthorities")
	if !ok {
		return nil
	}
	var out []*TimestampAuthority
	names := map[string]int{}
	for i, item := range items {
		path := index("timestampAuthorities", i)
		f, ok := p.fields(item, path, tsaFields, "name", "certChain")
		if !ok {
			continue
		}
		t := &TimestampAuthority{Pos: Pos{Line: item.Line, Path: path}}
		if v, ok := f["name"]; ok {
			t.Name = p.uniqueName(v, join(path, "name"), "timestamp authority", names)
		}
		if v, ok := f["certChain"]; ok {
			if s, ok := p.nonEmptyStr(v, join(path, "certChain")); ok {
				t.CertChain = s
				switch ref := strings.TrimSpace(s); {
				case strings.HasPrefix(ref, "-----BEGIN"):
				case strings.Contains(ref, "://"):
					p.addf(v.Line, join(path, "certChain"), "expected a PEM file path or inline PEM certificate chain, got a URL")
				case filepath.IsAbs(ref):
					t.File = ref
				default:
					t.File = filepath.Join(p.dir, ref)
				}
				if !strings.Contains(s, "://") {
					if chain, err := loadChain(t); err != nil {
						p.addf(v.Line, join(path, "certChain"), "%v", err)
					} else {
						t.Chain = chain
					}
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// loadChain reads a TSA's PEM certificate chain: leaf first, root last, as
// timestamp authorities serve it (GET /api/v1/timestamp/certchain).
func loadChain(t *TimestampAuthority) ([]*x509.Certificate, error) {
	data := []byte(t.CertChain)
	if t.File != "" {
		b, err := boundedfile.Read(t.File, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("reading certificate chain: %w", err)
		}
		data = b
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d of the chain: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificates found: give the TSA's chain (leaf first, root last)")
	}
	return chain, nil
}
