// Package vaulttransit is a test server for the part of HashiCorp Vault's transit
// secrets engine HTTP API that sigstore's hashivault:// KMS provider calls:
// read, create, rotate and configure a key, sign and verify. No Vault, OpenBao
// or local KMS could be installed on the development machine (their modules
// are not served or do not build there), so imgsign's hashivault://
// support is tested through sigstore's real provider and Vault's real API
// client against this server.
//
// Keys are real (crypto/ecdsa, crypto/ed25519, crypto/rsa), signatures are
// real and come back as Vault formats them ("vault:v<N>:<base64>"), every
// request needs the X-Vault-Token header, and keys have versions: rotate adds
// one, min_decryption_version retires old ones for verification and
// min_encryption_version for signing. Responses use Vault's JSON envelope and
// field names (latest_version, keys.<N>.public_key, keys.<N>.name, …), and
// errors Vault's {"errors": [...]} body and status codes: 403 for a bad
// token, 400 for a bad request, 404 for a missing key or route.
//
// The server listens on 127.0.0.1 only (httptest).
package vaulttransit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // Vault accepts sha1 for signing; so does this server
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key types the server creates: Vault's asymmetric signing key types.
const (
	TypeECDSAP256 = "ecdsa-p256"
	TypeECDSAP384 = "ecdsa-p384"
	TypeECDSAP521 = "ecdsa-p521"
	TypeEd25519   = "ed25519"
	TypeRSA2048   = "rsa-2048"
	TypeRSA3072   = "rsa-3072"
	TypeRSA4096   = "rsa-4096"
)

// Server is a running transit-API server.
type Server struct {
	// URL is the server's address as VAULT_ADDR takes it: http://127.0.0.1:PORT.
	URL string
	// Token is the only token the server accepts (X-Vault-Token).
	Token string
	// Mount is the transit engine's mount path (TRANSIT_SECRET_ENGINE_PATH).
	Mount string

	hs *httptest.Server

	mu   sync.Mutex
	keys map[string]*key
	deny []string
	reqs []Request
}

// Request is one request the server received, for tests to inspect.
type Request struct {
	Method string
	// Path is the URL path without the leading "/v1/", e.g.
	// "transit/sign/release/sha2-256".
	Path string
	// Body is the decoded JSON body (numbers as json.Number), nil if none.
	Body map[string]any
}

// Option configures Start.
type Option func(*Server)

// WithMount mounts the transit engine at path instead of "transit".
func WithMount(path string) Option { return func(s *Server) { s.Mount = strings.Trim(path, "/") } }

// WithToken makes token the accepted token instead of a random one.
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// Start starts a server on 127.0.0.1 with a random token and the engine
// mounted at "transit". Close it when done.
func Start(opts ...Option) *Server {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	s := &Server{Token: "hvs.test-" + hex.EncodeToString(b[:]), Mount: "transit", keys: map[string]*key{}}
	for _, o := range opts {
		o(s)
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.hs.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// Env returns the environment sigstore's provider reads to reach this server:
// VAULT_ADDR, VAULT_TOKEN and TRANSIT_SECRET_ENGINE_PATH.
func (s *Server) Env() []string {
	return []string{"VAULT_ADDR=" + s.URL, "VAULT_TOKEN=" + s.Token, "TRANSIT_SECRET_ENGINE_PATH=" + s.Mount}
}

// Setenv sets Env in t's environment for the rest of the test (t is a
// *testing.T or *testing.B).
func (s *Server) Setenv(t interface{ Setenv(key, value string) }) {
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Deny makes every request whose path (without "/v1/") starts with prefix
// fail with 403 "permission denied", as a token whose policy lacks the
// capability would, e.g. Deny("transit/sign/release").
func (s *Server) Deny(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = append(s.deny, strings.TrimPrefix(prefix, "/"))
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// CreateKey creates key name of type typ (one of the Type constants) with
// version 1, as `vault write transit/keys/NAME type=TYPE` does.
func (s *Server) CreateKey(name, typ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; ok {
		return fmt.Errorf("key %s already exists", name)
	}
	k, err := newKey(name, typ)
	if err != nil {
		return err
	}
	s.keys[name] = k
	return nil
}

// Rotate adds a version to key name and returns it, as
// `vault write -f transit/keys/NAME/rotate` does.
func (s *Server) Rotate(name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return 0, fmt.Errorf("key %s not found", name)
	}
	if err := k.rotate(); err != nil {
		return 0, err
	}
	return k.latest, nil
}

// SetMinDecryptionVersion retires versions below v for verification, as
// `vault write transit/keys/NAME/config min_decryption_version=V` does.
func (s *Server) SetMinDecryptionVersion(name string, v int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return fmt.Errorf("key %s not found", name)
	}
	_, err := k.configure(map[string]any{"min_decryption_version": json.Number(strconv.Itoa(v))})
	return err
}

// PublicKeys returns the public key of every version of key name, by version.
func (s *Server) PublicKeys(name string) map[int]crypto.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return nil
	}
	m := make(map[int]crypto.PublicKey, len(k.versions))
	for n, v := range k.versions {
		m[n] = v.priv.Public()
	}
	return m
}

// key is one named transit key and its versions.
type key struct {
	name          string
	typ           string
	versions      map[int]*version
	latest        int
	minDecryption int
	minEncryption int
}

type version struct {
	priv    crypto.Signer
	created time.Time
}

var nameRE = regexp.MustCompile(`^\w(([\w-.]+)?\w)?$`)

func newKey(name, typ string) (*key, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid key name %q", name)
	}
	switch typ {
	case TypeECDSAP256, TypeECDSAP384, TypeECDSAP521, TypeEd25519, TypeRSA2048, TypeRSA3072, TypeRSA4096:
	case "":
		// Vault's default type is aes256-gcm96, which cannot sign.
		return nil, errors.New("key type aes256-gcm96 is not implemented by this test server: pass type=ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519, rsa-2048, rsa-3072 or rsa-4096")
	default:
		return nil, fmt.Errorf("unknown key type %v", typ)
	}
	k := &key{name: name, typ: typ, versions: map[int]*version{}, minDecryption: 1}
	if err := k.rotate(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *key) rotate() error {
	var (
		priv crypto.Signer
		err  error
	)
	switch k.typ {
	case TypeECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case TypeECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case TypeECDSAP521:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case TypeEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case TypeRSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case TypeRSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case TypeRSA4096:
		priv, err = rsa.GenerateKey(rand.Reader, 4096)
	}
	if err != nil {
		return err
	}
	k.latest++
	k.versions[k.latest] = &version{priv: priv, created: time.Now().UTC()}
	return nil
}

// info is the key as Vault's GET transit/keys/:name returns it.
func (k *key) info() (map[string]any, error) {
	keys := map[string]any{}
	for n, v := range k.versions {
		var pub, name string
		switch p := v.priv.Public().(type) {
		case ed25519.PublicKey:
			// Vault returns Ed25519 keys as base64 of the raw key.
			name, pub = "ed25519", base64.StdEncoding.EncodeToString(p)
		case *ecdsa.PublicKey:
			name = p.Curve.Params().Name
		case *rsa.PublicKey:
			name = k.typ
		}
		if pub == "" {
			der, err := x509.MarshalPKIXPublicKey(v.priv.Public())
			if err != nil {
				return nil, err
			}
			pub = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		keys[strconv.Itoa(n)] = map[string]any{
			"name":              name,
			"public_key":        pub,
			"certificate_chain": "",
			"creation_time":     v.created.Format(time.RFC3339Nano),
		}
	}
	return map[string]any{
		"name":                   k.name,
		"type":                   k.typ,
		"keys":                   keys,
		"latest_version":         k.latest,
		"min_available_version":  0,
		"min_decryption_version": k.minDecryption,
		"min_encryption_version": k.minEncryption,
		"deletion_allowed":       false,
		"derived":                false,
		"exportable":             false,
		"allow_plaintext_backup": false,
		"supports_encryption":    false,
		"supports_decryption":    false,
		"supports_derivation":    false,
		"supports_signing":       true,
		"auto_rotate_period":     0,
		"imported_key":           false,
	}, nil
}

// configure applies the config endpoint's version settings, with Vault's
// checks and messages.
func (k *key) configure(body map[string]any) ([]string, error) {
	var warnings []string
	minDec, minEnc := k.minDecryption, k.minEncryption
	if v, ok := body["min_decryption_version"]; ok {
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("min_decryption_version: %w", err)
		}
		switch {
		case n < 0:
			return nil, errors.New("cannot set a negative minimum decryption version")
		case n == 0:
			n = 1
			warnings = append(warnings, "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1")
		case n > k.latest:
			return nil, fmt.Errorf("cannot set a minimum decryption version of %d, latest version is %d", n, k.latest)
		}
		minDec = n
	}
	if v, ok := body["min_encryption_version"]; ok {
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("min_encryption_version: %w", err)
		}
		switch {
		case n < 0:
			return nil, errors.New("cannot set a negative minimum encryption version")
		case n > k.latest:
			return nil, fmt.Errorf("cannot set a minimum encryption version of %d, latest version is %d", n, k.latest)
		}
		minEnc = n
	}
	if minEnc > 0 && minEnc < minDec {
		return nil, fmt.Errorf("minimum decryption version of %d must be less than or equal to minimum encryption version of %d", minDec, minEnc)
	}
	k.minDecryption, k.minEncryption = minDec, minEnc
	return warnings, nil
}

var hashes = map[string]crypto.Hash{
	"sha1":     crypto.SHA1,
	"sha2-224": crypto.SHA224,
	"sha2-256": crypto.SHA256,
	"sha2-384": crypto.SHA384,
	"sha2-512": crypto.SHA512,
}

func hashOf(h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA1:
		s := sha1.Sum(data) //nolint:gosec
		return s[:]
	case crypto.SHA224:
		s := sha256.Sum224(data)
		return s[:]
	case crypto.SHA256:
		s := sha256.Sum256(data)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(data)
		return s[:]
	default:
		s := sha512.Sum512(data)
		return s[:]
	}
}

// signParams are the sign and verify parameters, as Vault reads them.
type signParams struct {
	hash       crypto.Hash
	prehashed  bool
	sigAlg     string // RSA: "pss" (Vault's default) or "pkcs1v15"
	marshaling string // ECDSA: "asn1" (default) or "jws"
	input      []byte
}

func parseSignParams(urlHash string, body map[string]any) (*signParams, error) {
	hs := urlHash
	if hs == "" {
		hs = str(body["hash_algorithm"])
	}
	if hs == "" {
		hs = str(body["algorithm"])
	}
	if hs == "" {
		hs = "sha2-256"
	}
	h, ok := hashes[hs]
	if !ok {
		return nil, fmt.Errorf("invalid hash algorithm %q", hs)
	}
	p := &signParams{hash: h, sigAlg: str(body["signature_algorithm"]), marshaling: str(body["marshaling_algorithm"])}
	if p.sigAlg == "" {
		p.sigAlg = "pss"
	}
	if p.sigAlg != "pss" && p.sigAlg != "pkcs1v15" {
		return nil, fmt.Errorf("unsupported rsa signature algorithm %s", p.sigAlg)
	}
	if p.marshaling == "" {
		p.marshaling = "asn1"
	}
	if p.marshaling != "asn1" && p.marshaling != "jws" {
		return nil, fmt.Errorf("invalid marshaling type %q", p.marshaling)
	}
	var err error
	if p.prehashed, err = toBool(body["prehashed"]); err != nil {
		return nil, fmt.Errorf("prehashed: %w", err)
	}
	in, err := base64.StdEncoding.DecodeString(str(body["input"]))
	if err != nil {
		return nil, fmt.Errorf("unable to decode input as base64: %s", err)
	}
	p.input = in
	return p, nil
}

// digest returns what the key signs: the input hashed unless prehashed.
func (p *signParams) digest() []byte {
	if p.prehashed {
		return p.input
	}
	return hashOf(p.hash, p.input)
}

func (k *key) sign(ver int, p *signParams) (string, int, error) {
	if ver == 0 {
		ver = k.latest
	}
	if ver < 0 || ver > k.latest {
		return "", 0, errors.New("requested version for signing is higher than the latest key version")
	}
	if k.minEncryption > 0 && ver < k.minEncryption {
		return "", 0, errors.New("requested version for signing is less than the minimum encryption key version")
	}
	v := k.versions[ver]
	var sig []byte
	var err error
	switch priv := v.priv.(type) {
	case ed25519.PrivateKey:
		if p.marshaling == "jws" {
			return "", 0, errors.New("jws marshaling is only supported for ECDSA keys")
		}
		if p.prehashed {
			if p.hash != crypto.SHA512 {
				return "", 0, errors.New("only sha2-512 is supported for prehashed ed25519 signatures")
			}
			sig, err = priv.Sign(rand.Reader, p.input, &ed25519.Options{Hash: crypto.SHA512})
		} else {
			sig = ed25519.Sign(priv, p.input)
		}
	case *ecdsa.PrivateKey:
		d := p.digest()
		if p.marshaling == "jws" {
			r, s, e := ecdsa.Sign(rand.Reader, priv, d)
			if e != nil {
				return "", 0, e
			}
			n := (priv.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*n)
			r.FillBytes(sig[:n])
			s.FillBytes(sig[n:])
		} else {
			sig, err = ecdsa.SignASN1(rand.Reader, priv, d)
		}
	case *rsa.PrivateKey:
		if p.marshaling == "jws" {
			return "", 0, errors.New("jws marshaling is only supported for ECDSA keys")
		}
		d := p.digest()
		if len(d) != p.hash.Size() {
			return "", 0, fmt.Errorf("input is %d bytes, %s digests are %d", len(d), p.hash, p.hash.Size())
		}
		if p.sigAlg == "pkcs1v15" {
			sig, err = rsa.SignPKCS1v15(rand.Reader, priv, p.hash, d)
		} else {
			sig, err = rsa.SignPSS(rand.Reader, priv, p.hash, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
	}
	if err != nil {
		return "", 0, err
	}
	enc := base64.StdEncoding.EncodeToString(sig)
	if p.marshaling == "jws" {
		enc = base64.RawURLEncoding.EncodeToString(sig)
	}
	return fmt.Sprintf("vault:v%d:%s", ver, enc), ver, nil
}

var sigRE = regexp.MustCompile(`^vault:v(\d+):(.*)$`)

func (k *key) verify(signature string, p *signParams) (bool, error) {
	m := sigRE.FindStringSubmatch(signature)
	if m == nil {
		return false, errors.New("invalid signature: no prefix")
	}
	ver, err := strconv.Atoi(m[1])
	if err != nil || ver < 1 || ver > k.latest {
		return false, errors.New("invalid signature version")
	}
	if ver < k.minDecryption {
		return false, errors.New("ciphertext or signature version is disallowed by policy (too old)")
	}
	var sig []byte
	if p.marshaling == "jws" {
		sig, err = base64.RawURLEncoding.DecodeString(m[2])
	} else {
		sig, err = base64.StdEncoding.DecodeString(m[2])
	}
	if err != nil {
		return false, errors.New("invalid base64 signature value")
	}
	switch pub := k.versions[ver].priv.Public().(type) {
	case ed25519.PublicKey:
		if p.prehashed {
			if p.hash != crypto.SHA512 {
				return false, errors.New("only sha2-512 is supported for prehashed ed25519 signatures")
			}
			return ed25519.VerifyWithOptions(pub, p.input, sig, &ed25519.Options{Hash: crypto.SHA512}) == nil, nil
		}
		return ed25519.Verify(pub, p.input, sig), nil
	case *ecdsa.PublicKey:
		if p.marshaling == "jws" {
			n := (pub.Curve.Params().BitSize + 7) / 8
			if len(sig) != 2*n {
				return false, nil
			}
			r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
			return ecdsa.Verify(pub, p.digest(), r, s), nil
		}
		return ecdsa.VerifyASN1(pub, p.digest(), sig), nil
	case *rsa.PublicKey:
		d := p.digest()
		if p.sigAlg == "pkcs1v15" {
			return rsa.VerifyPKCS1v15(pub, p.hash, d, sig) == nil, nil
		}
		return rsa.VerifyPSS(pub, p.hash, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
	}
	return false, errors.New("unsupported key type")
}

// apiError is a Vault error response: status code and messages.
type apiError struct {
	status int
	msgs   []string
}

func (e *apiError) Error() string { return strings.Join(e.msgs, "; ") }

func badRequest(err error) *apiError {
	return &apiError{status: http.StatusBadRequest, msgs: []string{err.Error()}}
}

var (
	errPermission = &apiError{status: http.StatusForbidden, msgs: []string{"1 error occurred:\n\t* permission denied\n\n"}}
	errNotFound   = &apiError{status: http.StatusNotFound, msgs: []string{}}
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	p, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: p, Body: body})
	s.mu.Unlock()
	if !ok {
		writeError(w, &apiError{status: http.StatusNotFound, msgs: []string{"unsupported path"}})
		return
	}
	if r.Header.Get("X-Vault-Token") != s.Token {
		writeError(w, errPermission)
		return
	}
	if err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, msgs: []string{"failed to parse JSON input: " + err.Error()}})
		return
	}
	data, warnings, aerr := s.route(r.Method, p, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id":     requestID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       warnings,
		"auth":           nil,
	})
}

func (s *Server) route(method, p string, body map[string]any) (map[string]any, []string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deny {
		if strings.HasPrefix(p, d) {
			return nil, nil, errPermission
		}
	}
	rest, ok := strings.CutPrefix(p, s.Mount+"/")
	if !ok {
		return nil, nil, &apiError{status: http.StatusNotFound, msgs: []string{fmt.Sprintf("no handler for route %q. route entry not found.", p)}}
	}
	write := method == http.MethodPost || method == http.MethodPut
	parts := strings.Split(rest, "/")
	switch {
	case parts[0] == "keys" && len(parts) == 2 && method == http.MethodGet:
		k, ok := s.keys[parts[1]]
		if !ok {
			return nil, nil, errNotFound
		}
		info, err := k.info()
		if err != nil {
			return nil, nil, &apiError{status: http.StatusInternalServerError, msgs: []string{err.Error()}}
		}
		return info, nil, nil

	case parts[0] == "keys" && len(parts) == 2 && write:
		var warnings []string
		k, ok := s.keys[parts[1]]
		if ok {
			warnings = append(warnings, fmt.Sprintf("key %s already existed", parts[1]))
		} else {
			var err error
			if k, err = newKey(parts[1], str(body["type"])); err != nil {
				return nil, nil, badRequest(err)
			}
			s.keys[parts[1]] = k
		}
		info, err := k.info()
		if err != nil {
			return nil, nil, &apiError{status: http.StatusInternalServerError, msgs: []string{err.Error()}}
		}
		return info, warnings, nil

	case parts[0] == "keys" && len(parts) == 3 && (parts[2] == "rotate" || parts[2] == "config") && write:
		k, ok := s.keys[parts[1]]
		if !ok {
			return nil, nil, badRequest(errors.New("key not found"))
		}
		var warnings []string
		var err error
		if parts[2] == "rotate" {
			err = k.rotate()
		} else {
			warnings, err = k.configure(body)
		}
		if err != nil {
			return nil, nil, badRequest(err)
		}
		info, err := k.info()
		if err != nil {
			return nil, nil, &apiError{status: http.StatusInternalServerError, msgs: []string{err.Error()}}
		}
		return info, warnings, nil

	case (parts[0] == "sign" || parts[0] == "verify") && (len(parts) == 2 || len(parts) == 3) && write:
		urlHash := ""
		if len(parts) == 3 {
			urlHash = parts[2]
		}
		params, err := parseSignParams(urlHash, body)
		if err != nil {
			return nil, nil, badRequest(err)
		}
		k, ok := s.keys[parts[1]]
		if !ok {
			return nil, nil, badRequest(errors.New("signing key not found"))
		}
		if parts[0] == "sign" {
			ver, err := toInt(body["key_version"])
			if err != nil {
				return nil, nil, badRequest(fmt.Errorf("key_version: %w", err))
			}
			sig, used, err := k.sign(ver, params)
			if err != nil {
				return nil, nil, badRequest(err)
			}
			return map[string]any{"signature": sig, "key_version": used}, nil, nil
		}
		if _, ok := body["signature"]; !ok {
			return nil, nil, badRequest(errors.New("neither a 'signature' nor an 'hmac' were given to verify"))
		}
		valid, err := k.verify(str(body["signature"]), params)
		if err != nil {
			return nil, nil, badRequest(err)
		}
		return map[string]any{"valid": valid}, nil, nil
	}
	return nil, nil, &apiError{status: http.StatusMethodNotAllowed, msgs: []string{"1 error occurred:\n\t* unsupported operation\n\n"}}
}

func readBody(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"errors": e.msgs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// str, toBool and toInt read body values the way Vault's field parser
// does: strings, JSON booleans and numbers are all accepted.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		if x == "" {
			return false, nil
		}
		return strconv.ParseBool(x)
	}
	return false, fmt.Errorf("cannot parse %v as a boolean", v)
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := x.Int64()
		return int(n), err
	case string:
		if x == "" {
			return 0, nil
		}
		return strconv.Atoi(x)
	}
	return 0, fmt.Errorf("cannot parse %v as an integer", v)
}

// Versions returns the version numbers of key name in ascending order.
func (s *Server) Versions(name string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return nil
	}
	var vs []int
	for n := range k.versions {
		vs = append(vs, n)
	}
	sort.Ints(vs)
	return vs
}
