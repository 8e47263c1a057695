package dct

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// authTransport authenticates to the Notary server as docker did: the
// server answers /v2/ with the same token challenge as a registry, and the
// token is requested with the credentials docker holds for the GUN's
// registry and the scope repository:<GUN>:pull. A server without auth (or
// one the ping cannot reach) gets the plain transport, and Notary's own
// errors then say what failed.
func authTransport(ctx context.Context, src Source, base http.RoundTripper) http.RoundTripper {
	u := strings.TrimSuffix(src.Server, "/")
	host := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	var opts []name.Option
	if strings.HasPrefix(u, "http://") {
		opts = append(opts, name.Insecure)
	}
	server, err := name.NewRegistry(host, opts...)
	if err != nil {
		return base
	}
	regHost, _, _ := strings.Cut(src.GUN, "/")
	registry, err := name.NewRegistry(regHost)
	if err != nil {
		return base
	}
	creds, err := authn.DefaultKeychain.Resolve(registry)
	if err != nil {
		creds = authn.Anonymous
	}
	t, err := transport.NewWithContext(ctx, server, creds, base, []string{"repository:" + src.GUN + ":pull"})
	if err != nil {
		return base
	}
	return t
}
