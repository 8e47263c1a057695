// Package registry talks to OCI registries for imgsign: one authenticated
// connection per repository, manifests and blobs fetched by digest and checked
// against it, referrers discovered through the OCI 1.1 API or the referrers
// tag schema, and referrer manifests pushed so that concurrent writers never
// hide each other. Requests are counted by design: a verify from a tag is a
// ping, a resolve, a referrers listing and the bundles it needs.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/storage"
)

// Client opens repositories. The zero value is not usable; call New.
type Client struct {
	keychain  authn.Keychain
	insecure  map[string]bool
	userAgent string
	base      http.RoundTripper
	count     func()
	notice    func(msg string)
	// onlyHosts, when not nil, are the only hosts requests may go to
	// (WithOnlyHosts, offline.go); onlyNames the host names among them as
	// given, the only names looked up.
	onlyHosts map[string]bool
	onlyNames map[string]bool
}

// Option configures a Client.
type Option func(*Client)

// WithInsecure allows plain HTTP to the given registry hosts (host[:port]),
// beyond loopback, which is always allowed.
func WithInsecure(hosts ...string) Option {
	return func(c *Client) {
		for _, h := range hosts {
			if h != "" {
				c.insecure[h] = true
			}
		}
	}
}

// WithNotice receives what the client tells the user in passing, not an
// error: the tag it assumed for a reference written without tag or digest.
func WithNotice(f func(msg string)) Option { return func(c *Client) { c.notice = f } }

// WithKeychain replaces the default Docker-config keychain.
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithUserAgent sets the User-Agent sent with every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTransport replaces the innermost HTTP transport (tests count requests with it).
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.base = t } }

// WithRequestCounter calls count for every HTTP request the client sends,
// retries included (imgsign serve's registry request metric).
func WithRequestCounter(count func()) Option {
	return func(c *Client) { c.count = count }
}

// New returns a Client using Docker's config and credential helpers for auth.
func New(opts ...Option) *Client {
	c := &Client{
		keychain: authn.DefaultKeychain,
		insecure: map[string]bool{},
		base:     defaultTransport(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.count != nil {
		c.base = counting{inner: c.base, count: c.count}
	}
	return c
}

type counting struct {
	inner http.RoundTripper
	count func()
}

func (t counting) RoundTrip(req *http.Request) (*http.Response, error) {
	t.count()
	return t.inner.RoundTrip(req)
}

// subLocalhost reports whether host is a name under localhost
// (RFC 6761: app.localhost), other than localhost itself.
func subLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(h, "."+refname.Loopback)
}

// loopbackDialAddr is the address a connection to addr is made to: a name
// under localhost is dialled as localhost. Policies read every name of
// this machine as localhost (refname.Host), so the connection must reach
// this machine too: Go's resolver would ask DNS for evil.localhost, and
// a registry the answer names would be judged by the rules for this
// machine's registries.
func loopbackDialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !subLocalhost(host) {
		return addr
	}
	return net.JoinHostPort(refname.Loopback, port)
}

// directToLocalhost is proxy, except that a request to a name under
// localhost goes direct: a proxy would look the name up where it runs.
// (Go's own proxy functions already exempt localhost and loopback
// addresses.)
func directToLocalhost(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if proxy == nil {
		return nil
	}
	return func(req *http.Request) (*url.URL, error) {
		if subLocalhost(req.URL.Hostname()) {
			return nil, nil
		}
		return proxy(req)
	}
}

// defaultTransport is go-containerregistry's transport with a limit on each
// phase of a request that has none there, or a long one: connecting, the TLS
// handshake and waiting for the response headers; and names under localhost
// dialled as localhost, never through a proxy (loopbackDialAddr). A body
// that trickles is cut off by the run's deadline (WithTimeout), which every
// request carries.
func defaultTransport() http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	dial := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial(ctx, network, loopbackDialAddr(addr))
	}
	t.Proxy = directToLocalhost(t.Proxy)
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = ResponseHeaderTimeout
	return t
}

// timeoutKey holds the deadlineInfo of a context's deadline.
type timeoutKey struct{}

type deadlineInfo struct {
	limit      time.Duration
	perRequest bool
}

// WithTimeout returns ctx with a deadline d from now: the deadline of a whole
// command run. Requests cut off by it fail with a *TimeoutError that names
// the registry and d.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(ctx, timeoutKey{}, deadlineInfo{limit: d}), d)
}

// TimeoutError says a registry did not answer in time: the run's deadline
// passed (Limit is the run's timeout, 0 when not set with WithTimeout), or
// one request took longer than imgsign allows any (PerRequest; Limit is 0
// when one phase of it, such as the wait for headers, timed out).
type TimeoutError struct {
	Host       string
	Limit      time.Duration
	PerRequest bool
	Err        error
}

func (e *TimeoutError) Error() string {
	within := "in time"
	if e.Limit > 0 {
		within = "within " + e.Limit.String()
	}
	if e.PerRequest {
		if e.Limit > 0 {
			within += " (imgsign's limit for one request)"
		}
		return fmt.Sprintf("registry %s did not answer %s: %v (check the registry and the network)", e.Host, within, e.Err)
	}
	return fmt.Sprintf("registry %s did not answer %s: %v (raise --timeout or check the registry)", e.Host, within, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// ParseReference parses an image reference, allowing plain HTTP only where
// the client allows it.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, errkind.Inputf("parsing image reference %q: %w (expected registry/repo:tag or registry/repo@sha256:…)", s, err)
	}
	// name accepts what registries may resolve elsewhere (dev/../prod/x,
	// a//b, 127.1); trust-policy scopes would match the name as written
	// while the registry serves another repository or host.
	if p := ref.Context().RepositoryStr(); refname.CheckPath(p) != nil {
		return nil, errkind.Inputf("image reference %q: repository path %q: %w", s, p, refname.CheckPath(p))
	}
	host, err := refname.Host(ref.Context().RegistryStr())
	if err != nil {
		return nil, errkind.Inputf("image reference %q: %w", s, err)
	}
	// OCI layouts' repository names are imgsign's own, never typed: a
	// registry image so named would be judged by the policy's oci: scopes.
	// Compared canonical: OCI.invalid, oci.invalid. and oci.invalid:443
	// are that host too.
	if host == refname.LayoutHost {
		return nil, errkind.Inputf("image reference %q: %s is reserved for OCI layouts' names: write oci:DIR[:TAG|@sha256:…]", s, refname.LayoutHost)
	}
	// "app" silently meaning "app:latest" surprises anyone who expected a
	// pinned image; say so wherever an image is named.
	if _, ok := ref.(name.Tag); ok && c.notice != nil {
		if last := s[strings.LastIndex(s, "/")+1:]; !strings.Contains(last, ":") {
			c.notice(fmt.Sprintf("no tag or digest in %q: using %s:%s", s, s, name.DefaultTag))
		}
	}
	// Decide on the registry the reference actually names: "localhost/app" is
	// a Docker Hub repository, not a loopback registry.
	if c.plainHTTPAllowed(ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(s, name.Insecure); err != nil {
			return nil, errkind.Inputf("parsing image reference %q: %w", s, err)
		}
	}
	return ref, nil
}

// plainHTTPAllowed reports whether host may be spoken to without TLS:
// loopback always, anything else only when named with --insecure-registry.
func (c *Client) plainHTTPAllowed(host string) bool {
	if c.insecure[host] {
		return true
	}
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Repo is an authenticated connection to one repository.
type Repo struct {
	name   name.Repository
	client *http.Client
	scheme string
	// remote reads images lazily through go-containerregistry (Image, Index)
	// with the client's credentials and transport.
	remote func(ctx context.Context) []remote.Option
}

// Name is the repository the connection is to.
func (r *Repo) Name() name.Repository { return r.name }

// Open authenticates to repo for pulling, or pulling and pushing when push is
// true. It costs one ping (plus a token exchange where the registry wants one).
func (c *Client) Open(ctx context.Context, repo name.Repository, push bool) (*Repo, error) {
	host := repo.RegistryStr()
	auth, err := c.keychain.Resolve(repo)
	if err != nil {
		return nil, errkind.Inputf("reading registry credentials for %s: %w", host, err)
	}
	scope := repo.Scope(transport.PullScope)
	if push {
		scope = repo.Scope(transport.PushScope)
	}
	t, err := transport.NewWithContext(ctx, repo.Registry, auth, c.roundTripper(), []string{scope})
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("connecting to registry %s: %w", host, err), host)
	}
	return &Repo{name: repo, client: &http.Client{Transport: t}, scheme: repo.Scheme(), remote: c.remoteOptions}, nil
}

// classify marks registry errors with the kind the CLI exits with: missing
// things and refused credentials are the user's to fix (exit 2 for not found),
// everything else is operational (exit 3). A request the run's deadline cut
// off says which registry did not answer and how long it was given.
func classify(ctx context.Context, err error, host string) error {
	if err == nil {
		return nil
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return err
	}
	_, marked := errkind.Of(err)
	if errors.Is(err, context.DeadlineExceeded) || (!marked && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		info, _ := ctx.Value(timeoutKey{}).(deadlineInfo)
		return errkind.Mark(errkind.Operational, &TimeoutError{Host: host, Limit: info.limit, PerRequest: info.perRequest, Err: err})
	}
	if marked {
		return err
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return errkind.Mark(errkind.Operational, &TimeoutError{Host: host, PerRequest: true, Err: err})
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return errkind.Mark(errkind.Operational, fmt.Errorf("%w (log in with `docker login %s` or check the credential helper)", err, host))
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errkind.Mark(errkind.Operational, fmt.Errorf("%w (is the registry running and reachable?)", err))
	}
	// A TLS handshake answered in plain HTTP. Only a registry named with
	// --insecure-registry (or on loopback) is spoken to in plain HTTP, so
	// the fix is the user's.
	if answeredPlainHTTP(err) {
		return errkind.Inputf("registry %s answered over plain HTTP, so https failed (%w): if it is a plain-HTTP registry, pass --insecure-registry %s or set IMGSIGN_INSECURE_REGISTRIES=%s", host, err, host, host)
	}
	return errkind.Mark(errkind.Operational, err)
}

// answeredPlainHTTP reports whether err is a TLS handshake that got an
// HTTP response: net/http says so only when the transport's error reaches
// http.Client unwrapped.
func answeredPlainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.Is(err, http.ErrSchemeMismatch) || (errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/")
}

// plainHTTPGuard refuses plain-HTTP requests to hosts that were not allowed,
// because go-containerregistry falls back to HTTP for private-range addresses
// on its own and a registry must never be read unauthenticated by accident.
type plainHTTPGuard struct {
	inner   http.RoundTripper
	allowed func(host string) bool
}

func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowed(req.URL.Host) {
		return nil, errkind.Inputf("refusing plain HTTP to %s: use HTTPS, or pass --insecure-registry %s (or set IMGSIGN_INSECURE_REGISTRIES) if this registry really has no TLS", req.URL.Host, req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

// remoteOptions are go-containerregistry remote options with this client's
// credentials, plain-HTTP guard and retries, for reading images lazily as
// v1.Image / v1.ImageIndex (layers streamed, never buffered whole).
func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(c.keychain), remote.WithTransport(c.roundTripper())}
}

// roundTripper is the transport every request goes through: the plain-HTTP
// guard innermost, retries around it, the host guard of an offline client
// around them (never retried), the user agent outside.
func (c *Client) roundTripper() http.RoundTripper {
	var rt http.RoundTripper = &retrying{inner: &plainHTTPGuard{inner: c.base, allowed: c.plainHTTPAllowed}}
	rt = c.guardHosts(rt)
	if c.userAgent != "" {
		rt = transport.NewUserAgent(rt, c.userAgent)
	}
	return rt
}

// Resolve parses image, opens its repository (for pushing too when push is
// true) and resolves the reference once: the one way every command turns
// an image reference into a target.
func (c *Client) Resolve(ctx context.Context, image string, push bool) (*storage.Target, error) {
	ref, err := c.ParseReference(image)
	if err != nil {
		return nil, err
	}
	return c.ResolveReference(ctx, ref, push)
}

// ResolveReference is Resolve for a reference already parsed with
// ParseReference: verify matches it against the policy's scopes before any
// request.
func (c *Client) ResolveReference(ctx context.Context, ref name.Reference, push bool) (*storage.Target, error) {
	repo, err := c.Open(ctx, ref.Context(), push)
	if err != nil {
		return nil, err
	}
	desc, err := repo.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	t := &storage.Target{Repo: repo, Descriptor: desc}
	if tag, ok := ref.(name.Tag); ok {
		t.Tag = tag.TagStr()
	}
	return t, nil
}

var _ storage.Resolver = (*Client)(nil)
