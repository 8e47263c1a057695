package registry

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
)

// WithOnlyHosts restricts the client to the given registry hosts
// (host[:port], any spelling refname.Host folds into one): a request to any
// other host — a token service or blob store the registry names, a redirect
// — and a request an HTTP proxy would carry are refused before a
// connection is made, with an errkind.Input error. verify --offline gives
// the registries of the images on its command line. Called with no hosts,
// the client reaches no registry at all.
func WithOnlyHosts(hosts ...string) Option {
	return func(c *Client) {
		if c.onlyHosts == nil {
			c.onlyHosts = map[string]bool{}
		}
		for _, h := range hosts {
			if ch, err := refname.Host(h); err == nil {
				c.onlyHosts[ch] = true
			}
		}
	}
}

// ErrOffline is wrapped by every request WithOnlyHosts refuses; its text
// names the flag that asked for it.
var ErrOffline = errors.New("--offline")

// hostGuard is the transport of a client restricted to some hosts.
type hostGuard struct {
	inner   http.RoundTripper
	allowed map[string]bool
	// proxy is what the innermost transport would route a request through.
	proxy func(*http.Request) (*url.URL, error)
}

// guardHosts wraps rt in the host guard when the client is restricted.
func (c *Client) guardHosts(rt http.RoundTripper) http.RoundTripper {
	if c.onlyHosts == nil {
		return rt
	}
	return &hostGuard{inner: rt, allowed: c.onlyHosts, proxy: proxyOf(c.base)}
}

func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	host, err := refname.Host(req.URL.Host)
	if err != nil || !g.allowed[host] {
		how := ""
		if req.Response != nil && req.Response.Request != nil {
			how = fmt.Sprintf(", to which %s redirected", req.Response.Request.URL.Host)
		}
		return nil, errkind.Mark(errkind.Input, fmt.Errorf("%w: refusing to connect to %s%s: only the registries of the images given are contacted: %s; a registry that sends clients to another host for tokens or blobs cannot be used offline", ErrOffline, req.URL.Host, how, g.hosts()))
	}
	if g.proxy != nil {
		if p, err := g.proxy(req); err == nil && p != nil {
			return nil, errkind.Mark(errkind.Input, fmt.Errorf("%w: the request to %s would go through the proxy %s (HTTPS_PROXY or HTTP_PROXY): add %s to NO_PROXY, or unset the proxy", ErrOffline, req.URL.Host, p.Host, req.URL.Hostname()))
		}
	}
	return g.inner.RoundTrip(req)
}

func (g *hostGuard) hosts() string {
	hs := make([]string, 0, len(g.allowed))
	for h := range g.allowed {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	if len(hs) == 0 {
		return "(none)"
	}
	return strings.Join(hs, ", ")
}

// proxyOf is the proxy function of the client's innermost transport, when
// it is one this package knows.
func proxyOf(rt http.RoundTripper) func(*http.Request) (*url.URL, error) {
	switch t := rt.(type) {
	case *http.Transport:
		return t.Proxy
	case counting:
		return proxyOf(t.inner)
	}
	return nil
}
