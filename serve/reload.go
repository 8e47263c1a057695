package serve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// policyWatch reloads the trust policy when its file, or a file it names
// (keys, TSA chains, trust roots), changes. A change that does not load
// keeps the policy in force and is reported once; a Secret or ConfigMap
// updated in place (a symlink swap) is seen like any edit.
type policyWatch struct {
	file    string
	client  storage.Resolver
	judge   *judge
	log     *slog.Logger
	metrics *metrics

	mu sync.Mutex
	// files are the files the loaded (or last refused) policy named.
	files []string
	// seen is the fingerprint last loaded or refused: an unchanged
	// refused policy is not reported again every interval.
	seen string
	// refused is why the current files were refused; "" when they load.
	refused string
}

// check loads the policy if its files changed since the last check.
func (w *policyWatch) check(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before, err := fingerprint(w.file, w.files)
	if err != nil {
		before = "unreadable: " + err.Error() // reported once until it changes
	}
	if before == w.seen {
		return
	}
	// Load, fingerprint, load again: the second load is known to match the
	// fingerprint when nothing changed between the two, whatever files the
	// new policy names.
	p, err := load(ctx, w.file)
	if err != nil {
		w.refuse(before, err)
		return
	}
	files := policyFiles(p)
	after, err := fingerprint(w.file, files)
	if err == nil {
		p, err = load(ctx, w.file)
	}
	if err != nil {
		w.refuse(before, err)
		return
	}
	if again, err := fingerprint(w.file, policyFiles(p)); err != nil || again != after {
		return // a file changed while it was read: load it at the next check
	}
	w.files, w.seen, w.refused = files, after, ""
	l := &loaded{policy: p, hash: after, verifier: verify.New(w.client, p), at: time.Now()}
	w.judge.use(l)
	w.metrics.reloads.WithLabelValues("policy").Inc()
	w.log.Info("trust policy loaded", "file", w.file, "sha256", after, "rules", len(p.Rules))
}

func (w *policyWatch) refuse(fp string, err error) {
	if fp != "" && fp == w.seen {
		return
	}
	w.seen, w.refused = fp, oneLine(err)
	w.metrics.reloadErrors.WithLabelValues("policy").Inc()
	if cur := w.judge.state.Load(); cur != nil {
		w.log.Error("trust policy refused; the one loaded before stays in force", "file", w.file, "error", w.refused, "in_force", cur.hash)
		return
	}
	w.log.Error("trust policy refused; no policy is in force and every admission is denied", "file", w.file, "error", w.refused)
}

// ready is nil once a policy is in force.
func (w *policyWatch) ready() error {
	if w.judge.state.Load() == nil {
		return errors.New("no trust policy is loaded yet (see the server's log)")
	}
	return nil
}

// status is /readyz's body and code: the policy in force, and a refused
// newer one.
func (w *policyWatch) status() (string, int) {
	w.mu.Lock()
	refused := w.refused
	w.mu.Unlock()
	cur := w.judge.state.Load()
	if cur == nil {
		return "not ready: no trust policy loaded: " + refused, http.StatusServiceUnavailable
	}
	s := fmt.Sprintf("ready: policy sha256:%s loaded at %s", cur.hash, cur.at.UTC().Format(time.RFC3339))
	if refused != "" {
		s += "; a newer policy was refused: " + refused
	}
	return s, http.StatusOK
}

// load reads the policy and fetches its KMS keys, as verify does.
func load(ctx context.Context, file string) (*policy.Policy, error) {
	p, err := policy.Load(file)
	if err != nil {
		return nil, err
	}
	if p.KMSKeys() {
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := p.ResolveKMS(kctx, keys.LoadKMSPublicKeys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// policyFiles are the files a loaded policy was read from besides itself.
func policyFiles(p *policy.Policy) []string {
	var files []string
	for _, k := range p.Keys {
		if k.File != "" {
			files = append(files, k.File)
		}
	}
	for _, t := range p.TimestampAuthorities {
		if t.File != "" {
			files = append(files, t.File)
		}
	}
	for _, r := range p.TrustRoots {
		if r.File != "" {
			files = append(files, r.File)
		}
	}
	return files
}

// fingerprint hashes the policy file and the files it names: the policy
// content hash verdicts are cached under.
func fingerprint(file string, files []string) (string, error) {
	h := sha256.New()
	for _, f := range append([]string{file}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", errkind.Inputf("cannot read %s: %w", f, err)
		}
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
		s := sha256.Sum256(data)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// certWatch serves the TLS certificate and reloads it when its files
// change; a pair that does not load (the certificate renewed, the key not
// yet) keeps the previous one.
type certWatch struct {
	certFile, keyFile string
	log               *slog.Logger
	metrics           *metrics

	mu      sync.Mutex
	cert    *tls.Certificate
	seen    string
	lastErr error
}

func (c *certWatch) check() {
	certPEM, err1 := os.ReadFile(c.certFile)
	keyPEM, err2 := os.ReadFile(c.keyFile)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := errors.Join(err1, err2); err != nil {
		c.fail("", errkind.Inputf("cannot read the TLS certificate or key: %w", err))
		return
	}
	sum := sha256.Sum256(append(append([]byte{}, certPEM...), keyPEM...))
	fp := hex.EncodeToString(sum[:])
	if fp == c.seen {
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		c.fail(fp, errkind.Inputf("TLS certificate %s and key %s do not load: %w", c.certFile, c.keyFile, err))
		return
	}
	c.cert, c.seen, c.lastErr = &pair, fp, nil
	c.metrics.reloads.WithLabelValues("tls").Inc()
	c.log.Info("TLS certificate loaded", "file", c.certFile)
}

func (c *certWatch) fail(fp string, err error) {
	if fp != "" && fp == c.seen {
		return
	}
	c.seen, c.lastErr = fp, err
	c.metrics.reloadErrors.WithLabelValues("tls").Inc()
	if c.cert == nil {
		c.log.Error("TLS certificate cannot be loaded", "error", oneLine(err))
		return
	}
	c.log.Error("TLS certificate refused; the one loaded before stays in use", "error", oneLine(err))
}

func (c *certWatch) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil {
		if c.lastErr != nil {
			return nil, c.lastErr
		}
		return nil, errors.New("no TLS certificate loaded")
	}
	return c.cert, nil
}

// oneLine is an error as a log line or /readyz shows it: file contents
// quoted in it are escaped.
func oneLine(err error) string {
	return safetext.Clean(strings.Join(strings.Fields(err.Error()), " "))
}
