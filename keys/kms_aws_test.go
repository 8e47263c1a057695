package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// awsStub answers the AWS KMS JSON API calls sigstore's awskms provider
// makes (DescribeKey, GetPublicKey, Sign, CreateKey, CreateAlias) over TLS on
// loopback, with real keys. It is a stub written from the API reference, not
// a KMS: it checks no SigV4 signature and knows no policies, except that
// deny makes an operation fail with AccessDeniedException.
type awsStub struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    map[string]*awsKey // by key id
	aliases map[string]string  // "alias/NAME" → key id
	deny    map[string]bool    // operation → AccessDeniedException
	n       int
}

type awsKey struct {
	id   string
	spec string
	algs []string
	priv crypto.Signer
}

// startAWSStub starts the stub and points the AWS SDK at it (static
// credentials, its CA, one attempt per call).
func startAWSStub(t *testing.T) *awsStub {
	t.Helper()
	s := &awsStub{keys: map[string]*awsKey{}, aliases: map[string]string{}, deny: map[string]bool{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	awsEnv(t, dir)
	t.Setenv("AWS_CA_BUNDLE", ca)
	return s
}

// awsEnv isolates the AWS SDK from the machine's configuration.
func awsEnv(t *testing.T, dir string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDIMGSIGNTEST",
		"AWS_SECRET_ACCESS_KEY":       "imgsign-test-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_MAX_ATTEMPTS":            "1",
		"AWS_CA_BUNDLE":               "",
	} {
		t.Setenv(k, v)
	}
}

func (s *awsStub) host() string { return strings.TrimPrefix(s.srv.URL, "https://") }

// addKey creates a key under alias with the given signing algorithms (the
// first is the one the provider uses).
func (s *awsStub) addKey(t *testing.T, alias, spec string, algs ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.newKey(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(algs) > 0 {
		k.algs = algs
	}
	s.aliases[alias] = k.id
}

func (s *awsStub) newKey(spec string) (*awsKey, error) {
	k := &awsKey{spec: spec}
	var err error
	switch spec {
	case "ECC_NIST_P256":
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.algs = []string{"ECDSA_SHA_256"}
	case "ECC_NIST_P384":
		k.priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		k.algs = []string{"ECDSA_SHA_384"}
	case "RSA_2048", "RSA_3072", "RSA_4096":
		bits := map[string]int{"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}[spec]
		k.priv, err = rsa.GenerateKey(rand.Reader, bits)
		// The order AWS lists them in.
		k.algs = []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
	default:
		return nil, fmt.Errorf("unsupported KeySpec %s", spec)
	}
	if err != nil {
		return nil, err
	}
	s.n++
	k.id = fmt.Sprintf("1234abcd-12ab-34cd-56ef-%012d", s.n)
	s.keys[k.id] = k
	return k, nil
}

func (s *awsStub) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		awsError(w, "ValidationException", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deny[op] {
		awsError(w, "AccessDeniedException", fmt.Sprintf("User: arn:aws:iam::111122223333:user/ci is not authorized to perform: kms:%s on resource: %v because no identity-based policy allows the kms:%s action", op, req["KeyId"], op))
		return
	}
	arn := func(k *awsKey) string { return "arn:aws:kms:us-east-1:111122223333:key/" + k.id }
	meta := func(k *awsKey) map[string]any {
		return map[string]any{
			"AWSAccountId": "111122223333", "KeyId": k.id, "Arn": arn(k), "CreationDate": 1.7e9,
			"Enabled": true, "KeyState": "Enabled", "KeyUsage": "SIGN_VERIFY", "KeyManager": "CUSTOMER", "Origin": "AWS_KMS",
			"KeySpec": k.spec, "CustomerMasterKeySpec": k.spec, "SigningAlgorithms": k.algs,
		}
	}
	if op == "CreateKey" {
		spec, _ := req["KeySpec"].(string)
		if spec == "" {
			spec, _ = req["CustomerMasterKeySpec"].(string)
		}
		k, err := s.newKey(spec)
		if err != nil {
			awsError(w, "ValidationException", err.Error())
			return
		}
		awsJSON(w, map[string]any{"KeyMetadata": meta(k)})
		return
	}
	id, _ := req["KeyId"].(string)
	if op == "CreateAlias" {
		alias, _ := req["AliasName"].(string)
		if _, ok := s.aliases[alias]; ok {
			awsError(w, "AlreadyExistsException", "alias exists")
			return
		}
		s.aliases[alias] = req["TargetKeyId"].(string)
		awsJSON(w, map[string]any{})
		return
	}
	if a, ok := s.aliases[id]; ok {
		id = a
	}
	k, ok := s.keys[id]
	if !ok {
		awsError(w, "NotFoundException", fmt.Sprintf("Alias arn:aws:kms:us-east-1:111122223333:%s is not found.", req["KeyId"]))
		return
	}
	switch op {
	case "DescribeKey":
		awsJSON(w, map[string]any{"KeyMetadata": meta(k)})
	case "GetPublicKey":
		der, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
		awsJSON(w, map[string]any{"KeyId": arn(k), "PublicKey": der, "KeySpec": k.spec, "KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": k.algs})
	case "Sign":
		msg, _ := req["Message"].(string)
		var digest []byte
		if err := json.Unmarshal([]byte(`"`+msg+`"`), &digest); err != nil || req["MessageType"] != "DIGEST" {
			awsError(w, "ValidationException", "want a base64 DIGEST message")
			return
		}
		alg, _ := req["SigningAlgorithm"].(string)
		hash := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}[alg[len(alg)-3:]]
		if len(digest) != hash.Size() {
			awsError(w, "ValidationException", "digest length does not match the signing algorithm")
			return
		}
		var sig []byte
		var err error
		switch {
		case strings.HasPrefix(alg, "ECDSA"):
			sig, err = ecdsa.SignASN1(rand.Reader, k.priv.(*ecdsa.PrivateKey), digest)
		case strings.HasPrefix(alg, "RSASSA_PSS"):
			sig, err = rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		default:
			sig, err = rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), hash, digest)
		}
		if err != nil {
			awsError(w, "KMSInternalException", err.Error())
			return
		}
		awsJSON(w, map[string]any{"KeyId": arn(k), "Signature": sig, "SigningAlgorithm": alg})
	default:
		awsError(w, "UnsupportedOperationException", op)
	}
}

func awsJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func awsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// sigstore's awskms provider generates, reads and signs through the AWS SDK
// against the stub, with the algorithm FromPrivateKey would use.
func TestKMSAWSStub(t *testing.T) {
	for _, typ := range []Type{TypeECDSAP256, TypeECDSAP384, TypeRSA3072} {
		t.Run(string(typ), func(t *testing.T) {
			s := startAWSStub(t)
			ref := "awskms://" + s.host() + "/alias/release"
			pub, err := GenerateKMS(t.Context(), ref, typ)
			if err != nil {
				t.Fatalf("GenerateKMS: %v", err)
			}
			if kmsKeyType(pub) != string(typ) {
				t.Fatalf("created %s, want %s", kmsKeyType(pub), typ)
			}
			signer, err := LoadKMSSigner(t.Context(), ref)
			if err != nil {
				t.Fatalf("LoadKMSSigner: %v", err)
			}
			if !sameKMSPublic(signer.Public(), pub) {
				t.Fatal("signer key differs from the generated one")
			}
			signAndVerify(t, signer)
			keys, err := LoadKMSPublicKeys(t.Context(), ref)
			if err != nil || len(keys) != 1 || !sameKMSPublic(keys[0], pub) {
				t.Fatalf("LoadKMSPublicKeys: %d keys, %v", len(keys), err)
			}
			_, err = GenerateKMS(t.Context(), ref, typ)
			wantKind(t, err, errkind.Input)
			wantContains(t, err, "awskms: key "+ref+" already exists")
		})
	}
}

func TestKMSAWSStubErrors(t *testing.T) {
	s := startAWSStub(t)
	s.addKey(t, "alias/release", "ECC_NIST_P256")
	s.addKey(t, "alias/pss", "RSA_3072", "RSASSA_PSS_SHA_256")
	ref := "awskms://" + s.host() + "/alias/release"

	// A key whose first signing algorithm is RSA-PSS signs, but not the way
	// Sigstore verifies RSA: caught before the signature is used.
	signer, err := LoadKMSSigner(t.Context(), "awskms://"+s.host()+"/alias/pss")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = signer.SignData(t.Context(), []byte("x"))
	wantKind(t, err, errkind.Input)
	wantContains(t, err, "awskms: the signature", "does not verify", "PKIX_RSA_PKCS1V15_3072_SHA256", "RSA-PSS")

	_, err = LoadKMSPublic(t.Context(), "awskms://"+s.host()+"/alias/absent")
	wantKind(t, err, errkind.Input)
	wantContains(t, err, "awskms: key awskms://"+s.host()+"/alias/absent not found at AWS KMS endpoint https://"+s.host(), "is not found")

	signer, err = LoadKMSSigner(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.deny["Sign"] = true
	s.mu.Unlock()
	_, _, err = signer.SignData(t.Context(), []byte("x"))
	wantKind(t, err, errkind.Operational)
	wantContains(t, err, "awskms: permission denied (AccessDeniedException) signing with "+ref, "the caller needs kms:Sign on the key", "not authorized to perform: kms:Sign")
	wantNoSecret(t, err, "imgsign-test-secret")

	s.mu.Lock()
	s.deny["GetPublicKey"] = true
	s.mu.Unlock()
	_, err = LoadKMSPublic(t.Context(), ref)
	wantKind(t, err, errkind.Operational)
	wantContains(t, err, "awskms: permission denied (AccessDeniedException) reading the public key of "+ref, "kms:GetPublicKey")

	s.srv.Close()
	_, err = LoadKMSPublic(t.Context(), ref)
	wantKind(t, err, errkind.Operational)
	wantContains(t, err, "awskms: cannot reach AWS KMS endpoint https://"+s.host())
}
