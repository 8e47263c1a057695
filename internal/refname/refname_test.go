package refname

import (
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com":         "registry.example.com",
		"Registry.Example.COM":         "registry.example.com",
		"registry.example.com.":        "registry.example.com",
		"registry.example.com:443":     "registry.example.com",
		"registry.example.com.:443":    "registry.example.com",
		"registry.example.com:0443":    "registry.example.com",
		"registry.example.com:5000":    "registry.example.com:5000",
		"registry.example.com:05000":   "registry.example.com:5000",
		"registry.example.com:80":      "registry.example.com:80",
		"localhost":                    "localhost",
		"LOCALHOST.":                   "localhost",
		"localhost:5000":               "localhost:5000",
		"localhost.:5000":              "localhost:5000",
		"127.0.0.1:5000":               "localhost:5000",
		"127.0.0.2:5000":               "localhost:5000",
		"0.0.0.0:5000":                 "localhost:5000",
		"[::1]:5000":                   "localhost:5000",
		"[0:0:0:0:0:0:0:1]:5000":       "localhost:5000",
		"[::ffff:127.0.0.1]:5000":      "localhost:5000",
		"[::]:5000":                    "localhost:5000",
		"app.localhost:5000":           "localhost:5000",
		"127.0.0.1":                    "localhost",
		"127.0.0.1:443":                "localhost",
		"10.0.0.1:5000":                "10.0.0.1:5000",
		"[2001:DB8::1]:5000":           "[2001:db8::1]:5000",
		"[2001:db8:0:0:0:0:0:1]":       "[2001:db8::1]",
		"[::ffff:10.0.0.1]":            "10.0.0.1",
		"docker.io":                    DockerHub,
		"index.docker.io":              DockerHub,
		"registry-1.docker.io":         DockerHub,
		"registry.hub.docker.com":      DockerHub,
		"Registry.Hub.Docker.Com.:443": DockerHub,
		"docker.io:5000":               "docker.io:5000",
		"h_io.example.com":             "h_io.example.com",
		"1password.com":                "1password.com",
	} {
		got, err := Host(in)
		if err != nil || got != want {
			t.Errorf("Host(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                            "empty",
		"127.1":                       "reads as an IP address",
		"127.1:5000":                  "reads as an IP address",
		"2130706433:5000":             "reads as an IP address",
		"0x7f.0.0.1":                  "reads as an IP address",
		"0177.0.0.1":                  "reads as an IP address",
		"127.000.0.1":                 "reads as an IP address",
		"1.2.3.4.5":                   "reads as an IP address",
		"host:":                       "empty port",
		":5000":                       "empty host",
		"host:0":                      "1..65535",
		"host:65536":                  "1..65535",
		"host:+80":                    "1..65535",
		"host:http":                   "1..65535",
		"::1":                         "brackets",
		"[::1":                        "unclosed",
		"[::1]5000":                   "expected [address]",
		"[127.0.0.1]":                 "not an IPv6 address",
		"[fe80::1%eth0]:5000":         "not an IPv6 address",
		"-host.example.com":           "not a host name label",
		"host..example.com":           "not a host name label",
		"host.example.com..":          "not a host name label",
		"ho st.example.com":           "not a host name label",
		"hoſt.example.com":            "punycode",
		"\u212Aey.example.com":        "punycode",
		"a..localhost":                "not a host name",
		".":                           "empty",
		"registry.example.com:5000:1": "brackets",
	} {
		got, err := Host(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Host(%q) = %q, %v; want an error about %q", in, got, err, why)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"app", "team/app", "a/b/c/d", "a.b", "a_b", "a__b", "a-b", "a---b", "0", "library/nginx"} {
		if err := CheckPath(ok); err != nil {
			t.Errorf("CheckPath(%q) = %v", ok, err)
		}
	}
	for in, why := range map[string]string{
		"":                       "empty repository path",
		"dev/../prod/x":          `".." path segment`,
		"..":                     `".." path segment`,
		"./x":                    `"." path segment`,
		"x/.":                    `"." path segment`,
		"/x":                     "empty path segment",
		"x/":                     "empty path segment",
		"x//y":                   "empty path segment",
		"a..b":                   "not a repository name component",
		"a___b":                  "not a repository name component",
		"-a":                     "not a repository name component",
		"a-":                     "not a repository name component",
		".a":                     "not a repository name component",
		"A":                      "not a repository name component",
		"a%2e%2e":                "not a repository name component",
		"a b":                    "not a repository name component",
		strings.Repeat("a", 256): "longer than 255",
	} {
		if err := CheckPath(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckPath(%q) = %v; want an error about %q", in, err, why)
		}
	}
}

// FuzzHost checks that Host never panics and that its output is a fixed
// point: canonicalising twice changes nothing.
func FuzzHost(f *testing.F) {
	for _, s := range []string{"localhost:5000", "[::1]:443", "Docker.IO.", "127.1", "[::ffff:1.2.3.4]:05000", "a.localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Host(s)
		if err != nil {
			return
		}
		again, err := Host(h)
		if err != nil || again != h {
			t.Fatalf("Host(%q) = %q, but Host(%q) = %q, %v", s, h, h, again, err)
		}
	})
}
