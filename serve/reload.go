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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/internal/trustroot"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// policyWatch reloads the trust policy when its inputs change: its file,
// a file it names (keys, TSA chains, trust roots), or what a named Sigstore
// trust root (sigstore: public-good, github) resolves to — a cached copy
// `imgsign trust-root update` wrote appearing, changing or disappearing,
// or its TUF metadata expiring (trustroot.State). A change that does not
// load keeps the policy in force and is reported once; a Secret or
// ConfigMap updated in place (a symlink swap) is seen like any edit. The
// KMS keys of the policy in force are fetched again every kmsRefresh
// (refreshKMS).
type policyWatch struct {
	file    string
	client  storage.Resolver
	judge   *judge
	log     *slog.Logger
	metrics *metrics
	// kmsRefresh is how often the KMS keys of the policy in force are
	// fetched again; kmsRetry how soon after a failed fetch.
	kmsRefresh, kmsRetry time.Duration
	now                  func() time.Time

	mu sync.Mutex
	// files are the files the loaded policy named.
	files []string
	// seen is the inputs' state (snapshot.key) last loaded or refused: an
	// unchanged refused policy is not reported again every interval.
	seen string
	// refused is why the current inputs, or the KMS keys of the policy in
	// force, were refused; "" when they load.
	refused string
	// kmsDue is when the KMS keys of the policy in force are fetched
	// next; zero when it has none.
	kmsDue time.Time
	// withdrawn is the policy the KMS withdrew (see refreshKMS), whose keys
	// are fetched again until they load or a new policy does; nil when a
	// policy is in force or none was loaded.
	withdrawn *loaded
}

// kmsTimeout bounds one fetch of a policy's KMS keys.
const kmsTimeout = 30 * time.Second

// check loads the policy if its inputs changed since the last check, and
// fetches the KMS keys of the policy in force again when they are due.
func (w *policyWatch) check(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var before string
	snap, err := takeSnapshot(w.file, w.files)
	if err != nil {
		before = "unreadable: " + err.Error() // reported once until it changes
	} else {
		before = snap.key()
	}
	if before != w.seen {
		w.reload(ctx, before, snap)
		return
	}
	base := w.judge.state.Load()
	if base == nil {
		base = w.withdrawn
	}
	if base != nil && !w.kmsDue.IsZero() && !w.now().Before(w.kmsDue) {
		w.refreshKMS(ctx, base)
	}
}

// reload loads the policy from its inputs, whose state was before (snap,
// when they could be read).
func (w *policyWatch) reload(ctx context.Context, before string, snap snapshot) {
	// Load, snapshot, load again: the second load is known to match the
	// snapshot when nothing changed between the two, whatever files the
	// new policy names.
	p, err := load(ctx, w.file)
	if err != nil {
		w.refuse(before, err, snap)
		return
	}
	files := policyFiles(p)
	after, err := takeSnapshot(w.file, files)
	if err == nil {
		p, err = load(ctx, w.file)
	}
	if err != nil {
		w.refuse(before, err, snap)
		return
	}
	if again, err := takeSnapshot(w.file, policyFiles(p)); err != nil || again.key() != after.key() {
		return // an input changed while it was read: load it at the next check
	}
	w.files, w.seen, w.refused, w.withdrawn = files, after.key(), "", nil
	w.kmsDue = time.Time{}
	if hasKMS(p) {
		w.kmsDue = w.now().Add(w.kmsRefresh)
	}
	inputs := after.hash(p)
	hash := withKMS(inputs, p)
	if cur := w.judge.state.Load(); cur != nil && cur.hash == hash {
		// An input the policy does not use changed (another named trust
		// root's cache), or one changed and changed back: the policy in
		// force is this one, and its cached verdicts stand.
		return
	}
	w.use(&loaded{policy: p, hash: hash, inputs: inputs, roots: after.used(p), verifier: verify.New(w.client, p), at: w.now()})
	w.log.Info("trust policy loaded", "file", w.file, "sha256", hash, "rules", len(p.Rules))
}

// use puts l in force.
func (w *policyWatch) use(l *loaded) {
	w.judge.use(l)
	w.metrics.reloads.WithLabelValues("policy").Inc()
}

// refreshKMS fetches the KMS keys of base, the policy in force (or the
// one the KMS withdrew), again: a key rotated, retired or replaced in the
// KMS replaces the policy with one trusting what the KMS returns now, under
// a new hash (cached verdicts are dropped). When the fetch fails:
//
//   - the KMS could not be asked or did not answer (unreachable, timed
//     out, throttled, failing, or refusing serve's credentials:
//     errkind.Operational), the keys fetched before stay in force, as
//     cosign's and Kyverno's caches keep them, and the failure is reported
//     once;
//   - the KMS answered that the key is not there or not usable (not found,
//     disabled or otherwise refused, or no usable credentials configured:
//     errkind.Input, what makes `imgsign verify` exit 2), the policy is
//     withdrawn: fail closed, no policy is in force and every admission
//     is denied, as `imgsign verify` with that policy would refuse every
//     image, until the key loads again or a policy that loads replaces it.
//
// Either way the fetch is retried after kmsRetry.
func (w *policyWatch) refreshKMS(ctx context.Context, base *loaded) {
	p, err := refetchKMS(ctx, base.policy)
	if err != nil {
		w.kmsDue = w.now().Add(w.kmsRetry)
		msg := oneLine(err)
		definite := errkind.KindOf(err) == errkind.Input
		withdrawing := definite && w.judge.state.Load() != nil
		if withdrawing {
			w.judge.withdraw("no trust policy is in force: the KMS no longer returns a key the policy names (see the server's log)")
			w.withdrawn = base
		}
		if msg == w.refused && !withdrawing {
			return // reported already
		}
		w.refused = msg
		w.metrics.reloadErrors.WithLabelValues("policy").Inc()
		switch {
		case definite:
			w.log.Error("KMS key refused: the trust policy is withdrawn and every admission is denied until the key loads again", "file", w.file, "error", msg, "withdrawn", base.hash)
		case w.judge.state.Load() == nil:
			w.log.Error("KMS keys could not be fetched again; the trust policy stays withdrawn and every admission is denied", "file", w.file, "error", msg, "withdrawn", base.hash)
		default:
			w.log.Error("KMS keys could not be fetched again; the ones fetched before stay in force", "file", w.file, "error", msg, "in_force", base.hash)
		}
		return
	}
	w.kmsDue = w.now().Add(w.kmsRefresh)
	w.refused = ""
	hash := withKMS(base.inputs, p)
	if w.withdrawn == nil && hash == base.hash {
		return // nothing changed in the KMS
	}
	w.withdrawn = nil
	w.use(&loaded{policy: p, hash: hash, inputs: base.inputs, roots: base.roots, verifier: verify.New(w.client, p), at: w.now()})
	w.log.Info("trust policy loaded: its KMS keys changed", "file", w.file, "sha256", hash, "previous", base.hash)
}

// refuse reports a policy that does not load, once, and keeps the one in
// force — unless a named Sigstore trust root that one uses resolves to
// something else now (snap): it would go on trusting a root a fresh
// verify no longer uses (GitHub's cached copy expired, with no snapshot to
// fall back to, is a freeze attack's goal), so it is withdrawn: fail
// closed, every admission is denied until a policy loads.
func (w *policyWatch) refuse(fp string, err error, snap snapshot) {
	if fp != "" && fp == w.seen {
		return
	}
	w.seen, w.refused = fp, oneLine(err)
	w.metrics.reloadErrors.WithLabelValues("policy").Inc()
	if !w.kmsDue.IsZero() {
		// The refused policy may have failed on a KMS key the one in force
		// names too: ask the KMS about those at the next check.
		w.kmsDue = w.now()
	}
	if name, stale := w.staleRoot(snap); stale {
		cur := w.judge.state.Load()
		w.withdrawn, w.kmsDue = nil, time.Time{} // not to be put back by a KMS fetch either
		if cur != nil {
			w.judge.withdraw("no trust policy is in force: the Sigstore trust root " + name + " it uses has changed and the policy no longer loads (see the server's log)")
			w.log.Error("trust policy refused; the one in force uses a Sigstore trust root that has changed since, so it is withdrawn and every admission is denied", "file", w.file, "error", w.refused, "trust_root", name, "withdrawn", cur.hash)
			return
		}
	}
	if cur := w.judge.state.Load(); cur != nil {
		w.log.Error("trust policy refused; the one loaded before stays in force", "file", w.file, "error", w.refused, "in_force", cur.hash)
		return
	}
	w.log.Error("trust policy refused; no policy is in force and every admission is denied", "file", w.file, "error", w.refused)
}

// staleRoot names a named trust root the policy in force (or the one the
// KMS withdrew) uses that resolves to something else in snap.
func (w *policyWatch) staleRoot(snap snapshot) (string, bool) {
	base := w.judge.state.Load()
	if base == nil {
		base = w.withdrawn
	}
	if base == nil || snap.roots == nil {
		return "", false
	}
	for name, state := range base.roots {
		if snap.roots[name] != state {
			return name, true
		}
	}
	return "", false
}

// ready is nil once a policy is in force.
func (w *policyWatch) ready() error {
	if w.judge.state.Load() == nil {
		return errors.New(w.judge.noPolicyReason())
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
		kctx, cancel := context.WithTimeout(ctx, kmsTimeout)
		defer cancel()
		if err := p.ResolveKMS(kctx, keys.LoadKMSPublicKeys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// refetchKMS is base with its KMS keys fetched again, as load fetches
// them: a copy (base, and verdicts being judged under it, are untouched).
// Keys are named by rules, never pointed to, so a copy of the key list is
// the whole change.
func refetchKMS(ctx context.Context, base *policy.Policy) (*policy.Policy, error) {
	p := *base
	p.Keys = make([]*policy.Key, len(base.Keys))
	for i, k := range base.Keys {
		if k.KMSRef == "" {
			p.Keys[i] = k
			continue
		}
		c := *k
		c.Trusted, c.Versions = nil, nil
		p.Keys[i] = &c
	}
	kctx, cancel := context.WithTimeout(ctx, kmsTimeout)
	defer cancel()
	if err := p.ResolveKMS(kctx, keys.LoadKMSPublicKeys); err != nil {
		return nil, err
	}
	return &p, nil
}

// hasKMS reports whether p names a KMS key.
func hasKMS(p *policy.Policy) bool {
	for _, k := range p.Keys {
		if k.KMSRef != "" {
			return true
		}
	}
	return false
}

// withKMS is the policy hash: inputs (snapshot.hash) and, for a policy
// naming KMS keys, the key ids of every version fetched, so that a key the
// KMS rotated, retired or replaced makes another hash. A policy without
// KMS keys hashes to inputs.
func withKMS(inputs string, p *policy.Policy) string {
	var b strings.Builder
	for _, k := range p.Keys {
		if k.KMSRef == "" {
			continue
		}
		fmt.Fprintf(&b, "kms %d:%s %d:%s", len(k.Name), k.Name, len(k.KMSRef), k.KMSRef)
		for _, v := range k.Versions {
			b.WriteString(" " + v.ID)
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return inputs
	}
	sum := sha256.Sum256([]byte(inputs + "\n" + b.String()))
	return hex.EncodeToString(sum[:])
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

// snapshot is the state of a policy's inputs at one moment: its files,
// and what every named Sigstore trust root resolves to.
type snapshot struct {
	// files is the fingerprint of the policy file and the files it names.
	files string
	// roots is trustroot.State of each of trustroot.Names().
	roots map[string]string
}

// takeSnapshot reads the policy file, the files it names and the state of
// every named trust root. It is cheap enough for every reload interval:
// trustroot.State verifies a cached root's TUF metadata once per content.
func takeSnapshot(file string, files []string) (snapshot, error) {
	fp, err := fingerprint(file, files)
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{files: fp, roots: map[string]string{}}
	for _, name := range trustroot.Names() {
		if s.roots[name], err = trustroot.State(name); err != nil {
			return snapshot{}, err
		}
	}
	return s, nil
}

// key is what check compares: every named trust root counts, those the
// policy names or not, so that a policy refused for want of one (github,
// before its first `trust-root update`) loads once it is there. A change
// to a root the policy does not name reloads it to the same hash, which
// replaces nothing.
func (s snapshot) key() string {
	var b strings.Builder
	b.WriteString(s.files)
	for _, name := range trustroot.Names() {
		fmt.Fprintf(&b, "\nsigstore %s: %s", name, s.roots[name])
	}
	return b.String()
}

// used are the states of the named trust roots p names.
func (s snapshot) used(p *policy.Policy) map[string]string {
	m := map[string]string{}
	for _, r := range p.TrustRoots {
		if r.Sigstore != "" {
			m[r.Sigstore] = s.roots[r.Sigstore]
		}
	}
	return m
}

// hash is the content hash of what p was read from: its files and the
// states of the named trust roots it names. It is the files' fingerprint
// alone for a policy naming none.
func (s snapshot) hash(p *policy.Policy) string {
	var names []string
	for _, r := range p.TrustRoots {
		if r.Sigstore != "" {
			names = append(names, r.Sigstore)
		}
	}
	if len(names) == 0 {
		return s.files
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(s.files)
	for _, name := range slices.Compact(names) {
		fmt.Fprintf(&b, "\nsigstore %s: %s", name, s.roots[name])
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// fingerprint hashes the policy file and the files it names.
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
