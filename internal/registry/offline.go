package registry

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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
//
// "Any spelling" is the host's address in any spelling, and localhost for
// this machine's: any other host name is looked up (in /etc/hosts, then
// DNS) and is allowed only as given. Every name of this machine is one
// spelling of localhost for policies, but a registry at 127.0.0.1 naming
// its token service at evil.localhost would otherwise have that name
// looked up — a DNS query leaving the machine, whose answer can be any
// address.
func WithOnlyHosts(hosts ...string) Option {
	return func(c *Client) {
		if c.onlyHosts == nil {
			c.onlyHosts = map[string]bool{}
			c.onlyNames = map[string]bool{}
		}
		for _, h := range hosts {
			if ch, err := refname.Host(h); err == nil {
				c.onlyHosts[ch] = true
				if name, _, err := refname.SplitHostPort(h); err == nil && !isAddress(name) {
					c.onlyNames[lookupName(name)] = true
				}
			}
		}
	}
}

// isAddress reports whether a host (an IPv6 address in brackets or not)
// is an IP address, which is dialled without a lookup.
func isAddress(host string) bool {
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

// lookupName is the name a resolver looks host up by: case and a
// trailing dot make no difference to it.
func lookupName(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// ErrOffline is wrapped by every request WithOnlyHosts refuses; its text
// names the flag that asked for it.
var ErrOffline = errors.New("--offline")

// hostGuard is the transport of a client restricted to some hosts.
type hostGuard struct {
	inner   http.RoundTripper
	allowed map[string]bool
	// names are the host names that may be looked up: those given.
	names map[string]bool
	// proxy is what the innermost transport would route a request through.
	proxy func(*http.Request) (*url.URL, error)
}

// guardHosts wraps rt in the host guard when the client is restricted.
func (c *Client) guardHosts(rt http.RoundTripper) http.RoundTripper {
	if c.onlyHosts == nil {
		return rt
	}
	return &hostGuard{inner: rt, allowed: c.onlyHosts, names: c.onlyNames, proxy: proxyOf(c.base)}
}

func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	host, err := refname.Host(req.URL.Host)
	if name := req.URL.Hostname(); err != nil || !g.allowed[host] || !(isAddress(name) || g.names[lookupName(name)] || lookupName(name) == refname.Loopback) {
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
