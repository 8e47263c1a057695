package registry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/errkind"
)

// TestOnlyHosts: an offline client reaches the registries it was given,
// in any spelling, and refuses every other host before connecting — a
// token service, a redirect target, a proxy — with a bad-input error.
func TestOnlyHosts(t *testing.T) {
	ctx := context.Background()
	reg := serveRegistry(t, true)
	desc := pushImage(t, reg.Host, "app", "v1")
	other := newProxy(t, http.NotFoundHandler()) // another host: must see nothing
	port := reg.Host[strings.LastIndex(reg.Host, ":")+1:]

	t.Run("the image's registry, in another spelling", func(t *testing.T) {
		c := newClient(WithOnlyHosts("localhost:" + port))
		target, err := c.Resolve(ctx, reg.Host+"/app:v1", false)
		if err != nil || target.Descriptor.Digest != desc.Digest {
			t.Fatalf("Resolve: %v, %v", target, err)
		}
		if _, _, err := target.Repo.(*Repo).Manifest(ctx, "", desc.Digest); err != nil {
			t.Fatal(err)
		}
	})

	refused := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if !errors.Is(err, ErrOffline) {
			t.Fatalf("error %v, want ErrOffline", err)
		}
		if k, _ := errkind.Of(err); k != errkind.Input {
			t.Errorf("kind %v, want Input (exit 2)", k)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		if n := len(other.requests()); n != 0 {
			t.Errorf("the other host got %d requests: %v", n, other.requests())
		}
	}

	t.Run("another registry", func(t *testing.T) {
		_, err := newClient(WithOnlyHosts(reg.Host)).Resolve(ctx, other.Host+"/app:v1", false)
		refused(t, err, "--offline: refusing to connect to "+other.Host, "only the registries of the images given are contacted: localhost:"+port+";")
	})
	t.Run("a token service on another host", func(t *testing.T) {
		authed := newProxy(t, memRegistry(true))
		authed.hook(func(w http.ResponseWriter, r *http.Request) bool {
			// go-containerregistry itself refuses realms at private IP
			// literals; a name is refused here before it is looked up.
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://auth.example.invalid/token",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		})
		_, err := newClient(WithOnlyHosts(authed.Host)).Resolve(ctx, authed.Host+"/app:v1", false)
		refused(t, err, "refusing to connect to auth.example.invalid")
	})
	t.Run("a redirect to another host", func(t *testing.T) {
		redir := newProxy(t, memRegistry(true))
		pushImage(t, redir.Host, "app", "v1")
		redir.hook(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/manifests/sha256:") {
				http.Redirect(w, r, "http://"+other.Host+r.URL.Path, http.StatusTemporaryRedirect)
				return true
			}
			return false
		})
		target, err := newClient(WithOnlyHosts(redir.Host)).Resolve(ctx, redir.Host+"/app:v1", false)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = target.Repo.(*Repo).Manifest(ctx, "", target.Descriptor.Digest)
		refused(t, err, "refusing to connect to "+other.Host+", to which "+redir.Host+" redirected")
	})
	t.Run("through a proxy", func(t *testing.T) {
		proxyURL, _ := url.Parse("http://" + other.Host)
		base := remote.DefaultTransport.(*http.Transport).Clone()
		base.Proxy = http.ProxyURL(proxyURL)
		_, err := newClient(WithTransport(base), WithRequestCounter(func() {}), WithOnlyHosts(reg.Host)).Resolve(ctx, reg.Host+"/app:v1", false)
		refused(t, err, "would go through the proxy "+other.Host, "NO_PROXY")
	})
	t.Run("no hosts at all", func(t *testing.T) {
		_, err := newClient(WithOnlyHosts()).Resolve(ctx, reg.Host+"/app:v1", false)
		refused(t, err, "contacted: (none)")
	})
	t.Run("unrestricted without the option", func(t *testing.T) {
		if _, err := newClient().Resolve(ctx, reg.Host+"/app:v1", false); err != nil {
			t.Fatal(err)
		}
	})
}
