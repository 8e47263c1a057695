package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestPlainHTTPAllowed(t *testing.T) {
	c := newClient(WithInsecure("10.0.0.1:5000", "registry.internal", ""))
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:5000", true},
		{"127.0.0.1", true},
		{"127.0.0.1:5000", true},
		{"127.1.2.3:80", true},
		{"127.255.255.254", true},
		{"[::1]:5000", true},
		{"[::1]", true},
		{"::1", true},
		{"foo.localhost", true},
		{"a.b.localhost:8080", true},
		{"10.0.0.1:5000", true},     // named with WithInsecure
		{"registry.internal", true}, // named with WithInsecure

		{"10.0.0.1", false}, // other port than the one allowed
		{"10.0.0.1:5001", false},
		{"10.0.0.2:5000", false},
		{"registry.internal:5000", false},
		{"192.168.1.10:5000", false},
		{"172.16.0.1", false},
		{"example.com", false},
		{"example.com:443", false},
		{"localhost.example.com", false},
		{"notlocalhost", false},
		{"127.0.0.1.nip.io", false},
		{"[::2]:5000", false},
		{"0.0.0.0:5000", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := c.plainHTTPAllowed(tt.host); got != tt.want {
				t.Errorf("plainHTTPAllowed(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
	t.Run("insecure hosts are per client", func(t *testing.T) {
		if newClient().plainHTTPAllowed("10.0.0.1:5000") {
			t.Error("a client without WithInsecure allows plain HTTP to 10.0.0.1:5000")
		}
	})
}

// recordingRT answers every request with 200 and records what it saw.
type recordingRT struct {
	mu   sync.Mutex
	seen []string
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

func (r *recordingRT) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestPlainHTTPGuard(t *testing.T) {
	c := newClient(WithInsecure("insecure.example.com:5000"))
	tests := []struct {
		url     string
		refused bool
	}{
		{"http://example.com/v2/", true},
		{"http://10.0.0.1/v2/", true},
		{"http://10.0.0.1:5000/v2/app/manifests/1", true},
		{"http://insecure.example.com/v2/", true}, // allowed only on :5000
		{"https://example.com/v2/", false},
		{"https://10.0.0.1/v2/", false},
		{"http://127.0.0.1:5000/v2/", false},
		{"http://localhost/v2/", false},
		{"http://[::1]:5000/v2/", false},
		{"http://insecure.example.com:5000/v2/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			inner := &recordingRT{}
			g := &plainHTTPGuard{inner: inner, allowed: c.plainHTTPAllowed}
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := g.RoundTrip(req)
			if !tt.refused {
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				resp.Body.Close()
				if len(inner.calls()) != 1 {
					t.Errorf("inner transport saw %v, want the request", inner.calls())
				}
				return
			}
			wantKind(t, err, errkind.Input, "--insecure-registry "+req.URL.Host, "refusing plain HTTP")
			if resp != nil {
				t.Errorf("got a response with the refusal")
			}
			if calls := inner.calls(); len(calls) != 0 {
				t.Errorf("a refused request reached the network: %v", calls)
			}
		})
	}
}

// refusingRT fails every request as a closed port would.
type refusingRT struct{ recordingRT }

func (r *refusingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// A private-range registry without TLS: go-containerregistry would fall back
// to plain HTTP on its own; imgsign must refuse with a pointer to the flag,
// and nothing may be sent in clear.
func TestOpenRefusesPlainHTTPFallback(t *testing.T) {
	fastBackoff(t)
	rt := &refusingRT{}
	c := newClient(WithTransport(rt))
	ref, err := c.ParseReference("10.0.0.1:5000/team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Open(context.Background(), ref.Context(), false)
	wantKind(t, err, errkind.Input, "--insecure-registry 10.0.0.1:5000")
	for _, call := range rt.calls() {
		if strings.Contains(call, "http://") {
			t.Errorf("plain HTTP request reached the transport: %s", call)
		}
	}
	if len(rt.calls()) == 0 {
		t.Error("no HTTPS attempt was made")
	}
}

// rewriteRT sends every request to a loopback test server, recording the
// scheme and host the client meant, as if the registry lived at that address.
type rewriteRT struct {
	target string
	noTLS  bool // refuse https like a registry without TLS
	mu     sync.Mutex
	seen   []string
}

func (r *rewriteRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	if r.noTLS && req.URL.Scheme == "https" {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", r.target, ""
	resp, err := http.DefaultTransport.RoundTrip(out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

func (r *rewriteRT) schemes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, s := range r.seen {
		scheme, _, _ := strings.Cut(s, "://")
		m[scheme]++
	}
	return m
}

// A private-range registry that has TLS must be usable without
// --insecure-registry: go-containerregistry's default scheme for RFC 1918
// addresses is http, which the guard refuses, so every request must go out
// over the scheme the ping found (https), and http only when allowed.
func TestOpenPrivateRangeUsesHTTPS(t *testing.T) {
	reg := serveRegistry(t, true)
	want := pushImage(t, reg.Host, "team/app", "1")
	tests := []struct {
		name       string
		opts       []Option
		noTLS      bool
		wantScheme string
	}{
		{"TLS by default", nil, false, "https"},
		{"TLS preferred when plain HTTP is allowed", []Option{WithInsecure("10.0.0.1:5000")}, false, "https"},
		{"plain HTTP when allowed and no TLS", []Option{WithInsecure("10.0.0.1:5000")}, true, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			rt := &rewriteRT{target: reg.Host, noTLS: tt.noTLS}
			c := newClient(append(tt.opts, WithTransport(rt))...)
			ref, err := c.ParseReference("10.0.0.1:5000/team/app:1")
			if err != nil {
				t.Fatal(err)
			}
			repo, err := c.Open(context.Background(), ref.Context(), false)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			rt.mu.Lock()
			rt.seen = nil
			rt.mu.Unlock()
			got, err := repo.Resolve(context.Background(), ref)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Digest != want.Digest {
				t.Errorf("digest = %s, want %s", got.Digest, want.Digest)
			}
			if s := rt.schemes(); s[tt.wantScheme] == 0 || len(s) != 1 {
				t.Errorf("schemes used = %v, want only %s", s, tt.wantScheme)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		opts       []Option
		wantReg    string
		wantScheme string
	}{
		{"loopback", "127.0.0.1:5000/app:1", nil, "127.0.0.1:5000", "http"},
		{"localhost with port", "localhost:5000/team/app:1", nil, "localhost:5000", "http"},
		{"localhost subdomain", "reg.localhost/app@sha256:" + strings.Repeat("a", 64), nil, "reg.localhost", "http"},
		{"ipv6 loopback", "[::1]:5000/app:1", nil, "[::1]:5000", "http"},
		{"public", "registry.example.com/team/app:1", nil, "registry.example.com", "https"},
		{"insecure named", "registry.example.com/team/app:1", []Option{WithInsecure("registry.example.com")}, "registry.example.com", "http"},
		{"insecure is host:port exact", "registry.example.com:5000/app:1", []Option{WithInsecure("registry.example.com")}, "registry.example.com:5000", "https"},
		// "localhost/app" is a Docker Hub repository to go-containerregistry,
		// so it must not be read over plain HTTP.
		{"localhost without port", "localhost/app:1", nil, "localhost", "http"},
		// "localhost:1" alone is the Docker Hub repository library/localhost
		// with tag 1, so it must not be read over plain HTTP.
		{"docker hub repo named localhost", "localhost:1", nil, "index.docker.io", "https"},
		{"docker hub repo named like loopback", "localhost", nil, "index.docker.io", "https"},
		{"docker hub short name", "nginx:1.27", nil, "index.docker.io", "https"},
		{"docker hub library path", "library/localhost:1", nil, "index.docker.io", "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := newClient(tt.opts...).ParseReference(tt.in)
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			if got := ref.Context().RegistryStr(); got != tt.wantReg {
				t.Errorf("registry = %q, want %q", got, tt.wantReg)
			}
			if got := ref.Context().Scheme(); got != tt.wantScheme {
				t.Errorf("scheme = %q, want %q", got, tt.wantScheme)
			}
		})
	}
}

func TestParseReferenceErrorsAreInput(t *testing.T) {
	for _, in := range []string{
		"",
		"registry.example.com/Team/App:1",
		"registry.example.com/app:bad tag",
		"registry.example.com/app@sha256:abc",
		"registry.example.com/app@md5:0123456789abcdef0123456789abcdef",
		"https://registry.example.com/app:1",
		"127.0.0.1:5000/app:" + strings.Repeat("t", 129),
		"localhost:5000/",
	} {
		t.Run(in, func(t *testing.T) {
			ref, err := newClient().ParseReference(in)
			if err == nil {
				t.Fatalf("ParseReference(%q) = %v, want an error", in, ref)
			}
			wantKind(t, err, errkind.Input, "parsing image reference", "expected registry/repo:tag")
		})
	}
}

// A layout's oci.invalid name is refused as an image in every spelling the
// policy would read as it.
func TestParseReferenceRefusesLayoutHost(t *testing.T) {
	for _, host := range []string{"oci.invalid", "OCI.invalid", "oci.invalid.", "oci.invalid:443", "Oci.Invalid.:443"} {
		t.Run(host, func(t *testing.T) {
			ref, err := newClient().ParseReference(host + "/abc/def:v1")
			if err == nil {
				t.Fatalf("ParseReference = %v, want an error", ref)
			}
			wantKind(t, err, errkind.Input, "reserved for OCI layouts")
		})
	}
}

func TestClassify(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://reg.example.com/v2/app/manifests/1", nil)
	terr := func(code int) error { return &transport.Error{StatusCode: code, Request: req} }
	tests := []struct {
		name     string
		err      error
		kind     errkind.Kind
		mentions []string
	}{
		{"401", fmt.Errorf("x: %w", terr(http.StatusUnauthorized)), errkind.Operational, []string{"docker login reg.example.com"}},
		{"403", terr(http.StatusForbidden), errkind.Operational, []string{"docker login reg.example.com"}},
		{"500", terr(http.StatusInternalServerError), errkind.Operational, nil},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, errkind.Operational, []string{"reachable"}},
		{"already marked", errkind.Inputf("bad"), errkind.Input, []string{"bad"}},
		{"marked deep inside", fmt.Errorf("outer: %w", errkind.Mark(errkind.Untrusted, errors.New("inner"))), errkind.Untrusted, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantKind(t, classify(context.Background(), tt.err, "reg.example.com"), tt.kind, tt.mentions...)
		})
	}
	if classify(context.Background(), nil, "h") != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestOpenUnreachableIsOperational(t *testing.T) {
	fastBackoff(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	c := newClient()
	ref, err := c.ParseReference(addr + "/app:1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Open(context.Background(), ref.Context(), false)
	wantKind(t, err, errkind.Operational, addr)
}

func TestOpenSendsUserAgent(t *testing.T) {
	reg := serveRegistry(t, true)
	var mu sync.Mutex
	var agents []string
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		return false
	})
	repo := openRepo(t, reg.Host, "app", WithUserAgent("imgsign/test"))
	if _, err := repo.TagsWithPrefix(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) == 0 {
		t.Fatal("no requests seen")
	}
	for _, a := range agents {
		if !strings.Contains(a, "imgsign/test") {
			t.Errorf("User-Agent %q lacks imgsign/test", a)
		}
	}
}
