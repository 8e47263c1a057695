// Package refname gives each registry one spelling and refuses repository
// names that registries could resolve differently, so that trust-policy
// scopes match what the registry will actually serve.
//
// go-containerregistry's name package accepts far more than registries do:
// "dev/../prod/app", "./app", "a//b", upper-case hosts, "127.1" (which
// getaddrinfo reads as 127.0.0.1), "host:0443". A registry (or the HTTP
// stack in front of it) may clean such a path or resolve such a host to
// the same place as another spelling, while imgsign would have matched the
// spelling as written against the policy. Here every such name is either
// refused or reduced to one canonical form.
package refname

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// DockerHub is the canonical name of Docker Hub, as go-containerregistry
// spells it.
const DockerHub = "index.docker.io"

// Loopback is the canonical name of this machine as a registry host:
// localhost, *.localhost, 127.0.0.0/8, [::1], 0.0.0.0 and [::] all reach
// this machine, so they are one host.
const Loopback = "localhost"

// HTTPSPort is dropped from a host: host:443 and host are one registry.
const HTTPSPort = "443"

// dockerHubAliases are every spelling of Docker Hub's registry.
var dockerHubAliases = map[string]bool{
	"docker.io":               true,
	"index.docker.io":         true,
	"registry-1.docker.io":    true,
	"registry.hub.docker.com": true,
}

// AliasGroups are the spellings of one host that Host folds into the first
// of each group (without a port). Scope patterns with a wildcard host use
// them to refuse a glob that would match an alias but not the canonical name.
var AliasGroups = [][]string{
	{Loopback, "127.0.0.1", "[::1]", "0.0.0.0", "[::]"},
	{DockerHub, "docker.io", "registry-1.docker.io", "registry.hub.docker.com"},
}

// component is one path component as the OCI distribution specification
// defines repository names; registries must refuse anything else.
var component = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// maxPathLen is the distribution specification's bound on a repository name.
const maxPathLen = 255

// CheckPath reports whether path ("team/app", without the registry) is a
// repository path every registry reads the same way: components as the OCI
// distribution specification defines them. The error says what is wrong
// and is meant to follow "repository path %q: ".
func CheckPath(path string) error {
	if path == "" {
		return errors.New("empty repository path")
	}
	if len(path) > maxPathLen {
		return fmt.Errorf("longer than %d characters", maxPathLen)
	}
	for seg := range strings.SplitSeq(path, "/") {
		switch {
		case seg == "":
			return errors.New(`empty path segment (leading, trailing or doubled "/"): registries may read it as another repository`)
		case seg == "." || seg == "..":
			return fmt.Errorf("%q path segment: registries may resolve it to another repository; write the path without it", seg)
		case !component.MatchString(seg):
			return fmt.Errorf("path segment %q is not a repository name component: use a-z and 0-9, separated by '.', '_', '__' or '-'", seg)
		}
	}
	return nil
}

// Host returns the canonical spelling of a registry host ("host" or
// "host:port"):
//   - lower case, without a trailing dot;
//   - without port 443 (the https port): host:443 is host;
//   - a port without leading zeros, in 1..65535;
//   - IP addresses in their standard form (IPv6 in brackets, IPv4-mapped
//     IPv6 as IPv4);
//   - every name of this machine as localhost: 127.0.0.0/8, [::1], 0.0.0.0,
//     [::] and *.localhost (RFC 6761);
//   - docker.io, registry-1.docker.io and registry.hub.docker.com as
//     index.docker.io.
//
// A host whose last label is a number ("127.1", "2130706433", "0x7f.1")
// but which is not a dotted-quad IPv4 address is refused: resolvers read
// it as an IP address, so it would be another spelling of one.
func Host(host string) (string, error) {
	h, port, err := SplitHostPort(host)
	if err != nil {
		return "", err
	}
	if port != "" {
		if port, err = Port(port); err != nil {
			return "", err
		}
	}
	if h, err = Hostname(h); err != nil {
		return "", err
	}
	if port == "" && dockerHubAliases[h] {
		return DockerHub, nil
	}
	if port == "" {
		return h, nil
	}
	return h + ":" + port, nil
}

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port"; the host
// keeps its brackets and the port is "" when there is none. It checks only
// the shape, not the characters.
func SplitHostPort(s string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("empty registry host")
	}
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", fmt.Errorf("registry host %q: unclosed '['", s)
		}
		host, rest := s[:end+1], s[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("registry host %q: expected [address] or [address]:port", s)
		}
		if rest == ":" {
			return "", "", fmt.Errorf("registry host %q: empty port", s)
		}
		return host, rest[1:], nil
	}
	host, port, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return s, "", nil
	case strings.Contains(port, ":"):
		return "", "", fmt.Errorf("registry host %q: write an IPv6 address in brackets, [address]:port", s)
	case host == "":
		return "", "", fmt.Errorf("registry host %q: empty host name", s)
	case port == "":
		return "", "", fmt.Errorf("registry host %q: empty port", s)
	}
	return host, port, nil
}

// Port returns a port without leading zeros, and "" for 443.
func Port(port string) (string, error) {
	n, err := strconv.Atoi(port)
	if err != nil || strings.Trim(port, "0123456789") != "" || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	if p := strconv.Itoa(n); p != HTTPSPort {
		return p, nil
	}
	return "", nil
}

// Hostname canonicalises a host name or IP address without a port, as Host
// does, except that Docker Hub's aliases are left alone (they are aliases
// only without a port).
func Hostname(h string) (string, error) {
	if strings.HasPrefix(h, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("registry host %q is not an IPv6 address", h)
		}
		return canonicalAddr(a), nil
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			// Before lower-casing: strings.ToLower maps the Kelvin sign to k.
			return "", fmt.Errorf("registry host %q: write a non-ASCII host name in its punycode (xn--) form", h)
		}
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", errors.New("empty registry host name")
	}
	if h == Loopback || strings.HasSuffix(h, "."+Loopback) {
		if !validLabels(h) {
			return "", fmt.Errorf("registry host %q is not a host name", h)
		}
		return Loopback, nil
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return "", fmt.Errorf("registry host %q: %q is not a host name label (a-z, 0-9, '-', '_'; not starting or ending with '-')", h, l)
		}
	}
	if last := labels[len(labels)-1]; numeric(last) {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("registry host %q reads as an IP address but is not written as one: write the address as four decimal numbers (a.b.c.d), or localhost", h)
		}
		return canonicalAddr(a), nil
	}
	return h, nil
}

// canonicalAddr prints an address in its standard form; this machine's
// addresses (loopback, and unspecified, which connects to it) are localhost.
func canonicalAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.IsLoopback() || a.IsUnspecified() {
		return Loopback
	}
	if a.Is4() {
		return a.String()
	}
	return "[" + a.String() + "]"
}

func validLabels(h string) bool {
	for l := range strings.SplitSeq(h, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// numeric reports whether a label is a number as inet_aton reads one:
// decimal, octal or 0x hexadecimal. A DNS name's last label never is.
func numeric(l string) bool {
	if x, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(x, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}
