package policy

// The trustStores and x509Signers sections (Notary Project signers).

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/truststore"
	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/safetext"
)

var (
	trustStoreFields = []string{"name", "type", "certificates"}
	x509SignerFields = []string{"name", "trustStores", "trustedIdentities", "verifyTimestamp", "authenticTimestamp", "expiry", "revocation",
		"validFrom", "validUntil", "revokedAt"}
	storeTypes = []string{StoreCA, StoreSigningAuthority, StoreTSA}
	// storeName is notation's trust store name syntax: the names end up in
	// the notation trust policy notation-go checks.
	storeName = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
)

const (
	// maxCertFileBytes bounds one certificate file; maxStoreFiles the
	// files one directory source may hold.
	maxCertFileBytes = 1 << 20
	maxStoreFiles    = 256
)

func (p *parser) trustStores(raw *yaml.Node) []*TrustStore {
	items, ok := p.list(raw, "trustStores")
	if !ok {
		return nil
	}
	var out []*TrustStore
	for i, item := range items {
		path := index("trustStores", i)
		f, ok := p.fields(item, path, trustStoreFields, "name", "type", "certificates")
		if !ok {
			continue
		}
		ts := &TrustStore{Pos: Pos{Line: item.Line, Path: path}}
		if v, ok := f["name"]; ok {
			ts.Name = p.uniqueName(v, join(path, "name"), "trust store", p.storeNames)
			if ts.Name != "" && !storeName.MatchString(ts.Name) {
				p.addf(v.Line, join(path, "name"), "trust store name %q may hold only letters, digits, '.', '_' and '-' (notation's trust store names)", clip(ts.Name))
			}
		}
		if v, ok := f["type"]; ok {
			if s, ok := p.nonEmptyStr(v, join(path, "type")); ok {
				if !slices.Contains(storeTypes, s) {
					hint, _ := suggest(s, storeTypes)
					p.addf(v.Line, join(path, "type"), "unknown trust store type %q: use ca, signingAuthority or tsa%s", clip(s), hint)
				} else {
					ts.Type = s
				}
			}
		}
		if v, ok := f["certificates"]; ok {
			cp := join(path, "certificates")
			if srcs, ok := p.list(v, cp); ok {
				if len(srcs) == 0 {
					p.addf(v.Line, cp, "list at least one certificate file, directory or inline PEM")
				}
				for j, it := range srcs {
					s, ok := p.nonEmptyStr(it, index(cp, j))
					if !ok {
						continue
					}
					certs, err := p.readCertificates(s)
					if err != nil {
						p.addf(it.Line, index(cp, j), "%v", err)
						continue
					}
					if err := checkStoreCertificates(ts.Type, certs); err != nil {
						p.addf(it.Line, index(cp, j), "%v", err)
						continue
					}
					ts.Certificates = append(ts.Certificates, certs...)
				}
			}
		}
		p.storeTypes[ts.Name] = ts.Type
		out = append(out, ts)
	}
	return out
}

// readCertificates reads one certificates source: inline PEM, a PEM or DER
// file, or a directory of *.crt, *.pem and *.cer files (not recursive;
// regular files only, as notation's trust store reads them).
func (p *parser) readCertificates(src string) ([]*x509.Certificate, error) {
	ref := strings.TrimSpace(src)
	if strings.HasPrefix(ref, "-----BEGIN") {
		return parseCertificates([]byte(ref), "inline PEM")
	}
	if strings.Contains(ref, "://") {
		return nil, errors.New("expected a certificate file, a directory or inline PEM, got a URL")
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificates %s: %v", safetext.Clean(path), pathErr(err))
	}
	if !st.IsDir() {
		return readCertFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificate directory %s: %v", safetext.Clean(path), pathErr(err))
	}
	var out []*x509.Certificate
	n := 0
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".crt", ".pem", ".cer":
		default:
			continue
		}
		if n++; n > maxStoreFiles {
			return nil, fmt.Errorf("certificate directory %s holds more than %d certificate files", safetext.Clean(path), maxStoreFiles)
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (directories and symlinks are not read as certificates)", safetext.Clean(filepath.Join(path, e.Name())))
		}
		certs, err := readCertFile(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, certs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("certificate directory %s holds no *.crt, *.pem or *.cer file", safetext.Clean(path))
	}
	return out, nil
}

func readCertFile(path string) ([]*x509.Certificate, error) {
	b, err := boundedfile.Read(path, maxCertFileBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificates %s: %w", safetext.Clean(path), err)
	}
	return parseCertificates(b, safetext.Clean(path))
}

// parseCertificates reads PEM CERTIFICATE blocks, or one DER certificate.
// A private key among them is refused: policies are shared.
func parseCertificates(data []byte, where string) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("%s: neither PEM nor a DER certificate: %v", where, err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("%s holds a PRIVATE key: a trust store holds certificates only", where)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %v", where, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", where)
	}
	return out, nil
}

// checkStoreCertificates applies notation's rules for trust store
// certificates: CA or self-signed, and self-signed roots in a tsa store.
func checkStoreCertificates(storeType string, certs []*x509.Certificate) error {
	if err := truststore.ValidateCertificates(certs); err != nil {
		return errors.New(safetext.Clean(err.Error()))
	}
	if storeType != StoreTSA {
		return nil
	}
	for _, c := range certs {
		if !bytes.Equal(c.RawSubject, c.RawIssuer) || c.CheckSignatureFrom(c) != nil {
			return fmt.Errorf("certificate %q is not a self-signed root: a tsa store holds the TSA's root certificate", safetext.Clean(c.Subject.String()))
		}
	}
	return nil
}

func (p *parser) x509Signers(raw *yaml.Node) []*X509Signer {
	items, ok := p.list(raw, "x509Signers")
	if !ok {
		return nil
	}
	var out []*X509Signer
	for i, item := range items {
		if s := p.x509Signer(item, index("x509Signers", i)); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) x509Signer(raw *yaml.Node, path string) *X509Signer {
	f, ok := p.fields(raw, path, x509SignerFields, "name", "trustStores", "trustedIdentities")
	if !ok {
		return nil
	}
	s := &X509Signer{Pos: Pos{Line: raw.Line, Path: path}, VerifyTimestamp: "always",
		AuthenticTimestamp: ActionEnforce, Expiry: ActionEnforce, Revocation: ActionEnforce}
	if v, ok := f["name"]; ok {
		s.Name = p.uniqueName(v, join(path, "name"), "x509 signer", p.x509Names)
		if s.Name != "" {
			if line, clash := p.keyNames[s.Name]; clash {
				p.addf(v.Line, join(path, "name"), "x509 signer %q has the name of key %q (line %d): rules name keys, identities and x509 signers alike, so give each its own name", s.Name, s.Name, line)
			} else if line, clash := p.identityNames[s.Name]; clash {
				p.addf(v.Line, join(path, "name"), "x509 signer %q has the name of identity %q (line %d): rules name keys, identities and x509 signers alike, so give each its own name", s.Name, s.Name, line)
			}
		}
	}
	s.ValidFrom, s.ValidUntil, s.RevokedAt = p.window(f, path)
	if v, ok := f["trustStores"]; ok {
		sp := join(path, "trustStores")
		if items, ok := p.list(v, sp); ok {
			signing := false
			seen := map[string]bool{}
			for j, it := range items {
				name, ok := p.nonEmptyStr(it, index(sp, j))
				if !ok {
					continue
				}
				if seen[name] {
					p.addf(it.Line, index(sp, j), "trust store %q is listed twice", clip(name))
					continue
				}
				seen[name] = true
				typ, defined := p.storeTypes[name]
				if !defined {
					hint, _ := suggest(name, sortedKeys(p.storeNames))
					p.addf(it.Line, index(sp, j), "undefined trust store %q: define it under trustStores%s", clip(name), hint)
					continue
				}
				signing = signing || typ == StoreCA || typ == StoreSigningAuthority
				s.TrustStores = append(s.TrustStores, name)
			}
			if !signing && len(items) > 0 && len(s.TrustStores) == len(items) {
				p.addf(v.Line, sp, "name at least one trust store of type ca or signingAuthority: a tsa store vouches for times, not signers")
			} else if len(items) == 0 {
				p.addf(v.Line, sp, "list at least one trust store of type ca or signingAuthority")
			}
		}
	}
	if v, ok := f["trustedIdentities"]; ok {
		ip := join(path, "trustedIdentities")
		if items, ok := p.list(v, ip); ok {
			if len(items) == 0 {
				p.addf(v.Line, ip, `list at least one identity ("x509.subject: C=…, ST=…, O=…, CN=…"), or "*" for any leaf the trust stores vouch for`)
			}
			for j, it := range items {
				if id, ok := p.nonEmptyStr(it, index(ip, j)); ok {
					s.TrustedIdentities = append(s.TrustedIdentities, id)
				}
			}
		}
	}
	for _, c := range []struct {
		field   string
		dst     *string
		allowed []string
	}{
		{"verifyTimestamp", &s.VerifyTimestamp, []string{"always", "afterCertExpiry"}},
		{"authenticTimestamp", &s.AuthenticTimestamp, []string{ActionEnforce, ActionLog}},
		{"expiry", &s.Expiry, []string{ActionEnforce, ActionLog}},
		{"revocation", &s.Revocation, []string{ActionEnforce, ActionLog, ActionSkip}},
	} {
		v, ok := f[c.field]
		if !ok {
			continue
		}
		if val, ok := p.nonEmptyStr(v, join(path, c.field)); ok {
			if !slices.Contains(c.allowed, val) {
				p.addf(v.Line, join(path, c.field), "%s must be one of %s, got %q", c.field, strings.Join(c.allowed, ", "), clip(val))
				continue
			}
			*c.dst = val
		}
	}
	s.Trusted = &TrustedKey{Name: s.Name, ID: X509SignerIDPrefix + s.Name,
		ValidFrom: s.ValidFrom, ValidUntil: s.ValidUntil, RevokedAt: s.RevokedAt, X509: s}
	return s
}

// checkNotaryDocuments has notation-go validate each signer as the trust
// policy statement it becomes, so identities notation would refuse (a DN
// without C, ST and O, say) are a policy problem, not a verify-time error.
func (p *parser) checkNotaryDocuments(pol *Policy) {
	for _, s := range pol.X509Signers {
		if s.Name == "" || len(s.TrustStores) == 0 || len(s.TrustedIdentities) == 0 {
			continue
		}
		if err := s.NotaryDocument(pol, "").Validate(); err != nil {
			msg := strings.TrimPrefix(err.Error(), "trust policy: ")
			msg = strings.ReplaceAll(msg, "trust policy statement", "x509 signer")
			p.addf(s.Line, join(s.Path, "trustedIdentities"), "%s", safetext.Clean(msg))
		}
	}
}
