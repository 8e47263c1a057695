package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// An offline client allows the image's registry at its address in any
// spelling, but a host name only as given: a registry at 127.0.0.1 naming
// its token service at a subdomain of localhost (one spelling of this
// machine for policies) had the name looked up through DNS under
// --offline. It is refused before any lookup; localhost itself and the
// address's other spellings still reach the registry.
func TestRedTeam3OnlyHostsLooksUpNoOtherName(t *testing.T) {
	ctx := context.Background()
	reg := serveRegistry(t, true)
	pushImage(t, reg.Host, "app", "v1")
	port := reg.Host[strings.LastIndex(reg.Host, ":")+1:]

	authed := newProxy(t, memRegistry(true))
	aport := authed.Host[strings.LastIndex(authed.Host, ":")+1:]
	authed.hook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://imgsign-redteam.localhost:`+aport+`/token",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	_, err := newClient(WithOnlyHosts(authed.Host)).Resolve(ctx, authed.Host+"/app:v1", false)
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "refusing to connect to imgsign-redteam.localhost:"+aport) {
		t.Fatalf("a token service at a subdomain of localhost: %v, want it refused before a lookup", err)
	}

	for _, spelling := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::ffff:127.0.0.1]:" + port} {
		if _, err := newClient(WithOnlyHosts(reg.Host)).Resolve(ctx, spelling+"/app:v1", false); err != nil {
			t.Errorf("the registry as %s, given as %s: %v", spelling, reg.Host, err)
		}
	}
	if _, err := newClient(WithOnlyHosts(reg.Host)).Resolve(ctx, "x.localhost:"+port+"/app:v1", false); !errors.Is(err, ErrOffline) {
		t.Errorf("the registry as x.localhost, given as %s: %v, want refused", reg.Host, err)
	}
}
