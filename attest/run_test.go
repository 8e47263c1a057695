package attest

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// Run resolves once, builds the subjects, then loads the key, then pushes
// one statement per manifest; every failure before the key says which
// image, and none of them asks for the key.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	host := testenv.Registry(t, true).Addr
	testenv.PushImage(t, host, "acme/app", "v1")
	index, platforms := testenv.PushIndex(t, host, "acme/app", "multi")
	key := testkey.Signer(t)
	pred := map[string]any{"scanner": "fixture"}
	alone := func(_ context.Context, t *storage.Target) ([]Subject, error) {
		return []Subject{{Descriptor: t.Descriptor, Predicate: pred}}, nil
	}
	errKey := errors.New("no such key")

	for _, tc := range []struct {
		name      string
		image     string
		pt        string
		subjects  func(context.Context, *storage.Target) ([]Subject, error)
		keyErr    error
		err       string // error substring; "" for success
		keyLoaded bool
		// attached are the subjects' digests, in order, on success.
		attached func(t *storage.Target) []string
	}{
		{name: "the image alone", image: host + "/acme/app:v1", pt: statement.CosignVuln, subjects: alone, keyLoaded: true,
			attached: func(t *storage.Target) []string { return []string{t.Descriptor.Digest.String()} }},
		{name: "a platform and its index", image: host + "/acme/app:multi", pt: statement.SPDX, keyLoaded: true,
			subjects: func(_ context.Context, t *storage.Target) ([]Subject, error) {
				ps, err := t.Platforms(context.Background())
				if err != nil {
					return nil, err
				}
				return []Subject{{Descriptor: ps[0].Descriptor, Predicate: pred, Also: []v1.Descriptor{t.Descriptor}}}, nil
			},
			attached: func(*storage.Target) []string { return []string{platforms[0].String(), index.String()} }},
		{name: "no such image", image: host + "/acme/app:missing", pt: statement.SPDX, subjects: alone,
			err: "attesting " + host + "/acme/app:missing: "},
		{name: "the subjects cannot be built", image: host + "/acme/app:v1", pt: statement.SPDX,
			subjects: func(context.Context, *storage.Target) ([]Subject, error) { return nil, errkind.Inputf("bad predicate") },
			err:      "attesting " + host + "/acme/app:v1: bad predicate"},
		{name: "the key cannot be loaded", image: host + "/acme/app:v1", pt: statement.SPDX, subjects: alone, keyErr: errKey,
			keyLoaded: true, err: "no such key"},
		{name: "the plain-signature type", image: host + "/acme/app:v1", pt: statement.Signature, subjects: alone,
			keyLoaded: true, err: "attesting " + host + "/acme/app:v1: predicate type " + statement.Signature + " is the plain image signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded := false
			res, err := Run(context.Background(), Request{Client: registry.New(), Image: tc.image, PredicateType: tc.pt, Subjects: tc.subjects,
				Signer: func(context.Context) (sign.Signer, error) {
					loaded = true
					if tc.keyErr != nil {
						return nil, tc.keyErr
					}
					return key, nil
				}})
			if loaded != tc.keyLoaded {
				t.Errorf("key loaded: %v; want %v", loaded, tc.keyLoaded)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v; want one containing %q", err, tc.err)
				}
				if tc.keyErr != nil && !errors.Is(err, tc.keyErr) {
					t.Errorf("err %v; want the key's error itself", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			target, err := registry.New().Resolve(context.Background(), tc.image, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Image != target.Reference().String() || res.Digest != target.Descriptor.Digest.String() {
				t.Errorf("result names %s (%s); want %s", res.Image, res.Digest, target.Reference())
			}
			want := tc.attached(target)
			if len(res.Attached) != len(want) {
				t.Fatalf("attached %+v; want statements about %v", res.Attached, want)
			}
			for i, a := range res.Attached {
				if a.Subject != want[i] || a.PredicateType != tc.pt || a.KeyID != key.ID() || a.Referrer == "" {
					t.Errorf("attached %+v; want a %s statement about %s by %s", a, tc.pt, want[i], key.ID())
				}
			}
		})
	}
}
