package registry

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A name under localhost is this machine for policies (refname.Host), so
// the client must reach this machine for it: Go's resolver would ask DNS
// for evil.localhost, and a proxy would look it up where it runs, so a
// registry anywhere could be judged by the rules for this machine's.
func TestSubLocalhostReachesThisMachine(t *testing.T) {
	reg := serveRegistry(t, true)
	_, port, _ := strings.Cut(reg.Host, ":")
	client := &http.Client{Transport: defaultTransport()}
	for _, host := range []string{"app.localhost", "A.B.LOCALHOST.", "localhost"} {
		t.Run(host, func(t *testing.T) {
			resp, err := client.Get("http://" + host + ":" + port + "/v2/")
			if err != nil {
				t.Fatalf("GET /v2/ on %s:%s, served on 127.0.0.1: %v", host, port, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /v2/: %s", resp.Status)
			}
		})
	}
}

func TestDirectToLocalhost(t *testing.T) {
	via := &url.URL{Scheme: "http", Host: "proxy.example:3128"}
	proxy := directToLocalhost(func(*http.Request) (*url.URL, error) { return via, nil })
	tests := []struct {
		url    string
		direct bool
	}{
		{"https://app.localhost:5000/v2/", true},
		{"https://EVIL.localhost./v2/", true},
		{"https://a.b.localhost/v2/", true},
		{"https://localhost.example.com/v2/", false},
		{"https://notlocalhost/v2/", false},
		{"https://ghcr.io/v2/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := proxy(req)
			if err != nil {
				t.Fatal(err)
			}
			if direct := got == nil; direct != tt.direct {
				t.Errorf("direct = %v, want %v (proxy %v)", direct, tt.direct, got)
			}
		})
	}
	if directToLocalhost(nil) != nil {
		t.Error("no proxy became one")
	}
}
