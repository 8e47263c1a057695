package ocilayout

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/storage"
)

// Store is the storage.Store every command uses: oci: references, and the
// repositories layouts stand for, go to layouts; everything else to the
// store it wraps (a registry client). It lives here, not in storage,
// because what it routes by — what an oci: reference is, and which
// repository names are layouts — is this package's knowledge, and it takes
// the registry as a storage.Store so that no layering rule bends.
type Store struct {
	next storage.Store
	as   *name.Repository

	mu    sync.Mutex
	asDir string
}

// Option configures a Store.
type Option func(*Store)

// WithAs makes the layout an oci: reference names stand for repo, for the
// policy and in statements (--as): signed there, it verifies after a copy
// to repo, and a copy from repo verifies in it. Only one layout can be
// repo, and every image the run names must be that layout.
func WithAs(repo name.Repository) Option { return func(s *Store) { s.as = &repo } }

// NewStore routes oci: references to layouts and the rest to next.
func NewStore(next storage.Store, opts ...Option) *Store {
	s := &Store{next: next}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ParseReference parses an oci: reference as a reference in the layout's
// repository (name.Tag or name.Digest, or a *Reference for the layout's
// only image), anything else as next does.
func (s *Store) ParseReference(image string) (name.Reference, error) {
	if !IsReference(image) {
		if s.as != nil {
			return nil, errkind.Inputf("--as %s names the repository an OCI layout stands for, but %q is not an oci: reference: drop --as for registry images", s.as, image)
		}
		// The registry client refuses oci.invalid names: layouts are named
		// oci:DIR.
		return s.next.ParseReference(image)
	}
	r, err := ParseReference(image, s.as)
	if err != nil {
		return nil, err
	}
	if s.as != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case s.asDir == "":
			s.asDir = r.Dir
		case s.asDir != r.Dir:
			return nil, errkind.Inputf("--as %s can stand for one layout, not both %s and %s", s.as, s.asDir, r.Dir)
		}
	}
	return r.named(), nil
}

// layout is the layout repo stands for, if it is one.
func (s *Store) layout(repo name.Repository) (*Layout, bool, error) {
	if s.as != nil && repo.Name() == s.as.Name() {
		s.mu.Lock()
		dir := s.asDir
		s.mu.Unlock()
		if dir == "" {
			return nil, true, errkind.Inputf("--as %s: no oci: reference names the layout it stands for", s.as)
		}
		return Open(dir, repo), true, nil
	}
	dir, ok, err := refname.LayoutDir(repo.Name())
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, errkind.Inputf("%w", err)
	}
	return Open(dir, repo), true, nil
}

// ResolveReference resolves ref once in its layout or through next.
func (s *Store) ResolveReference(ctx context.Context, ref name.Reference, push bool) (*storage.Target, error) {
	l, ok, err := s.layout(ref.Context())
	if err != nil {
		return nil, err
	}
	if !ok {
		return s.next.ResolveReference(ctx, ref, push)
	}
	desc, err := l.Resolve(ctx, ref)
	if err != nil {
		var nf *storage.NotFoundError
		if _, marked := errkind.Of(err); !marked && errors.As(err, &nf) {
			err = errkind.Mark(errkind.Input, fmt.Errorf("%w (is %s an OCI image layout?)", err, l.dir))
		}
		return nil, err
	}
	t := &storage.Target{Repo: l, Descriptor: desc}
	if tag, ok := ref.(name.Tag); ok {
		t.Tag = tag.TagStr()
	}
	return t, nil
}

// Resolve is ParseReference then ResolveReference.
func (s *Store) Resolve(ctx context.Context, image string, push bool) (*storage.Target, error) {
	ref, err := s.ParseReference(image)
	if err != nil {
		return nil, err
	}
	return s.ResolveReference(ctx, ref, push)
}

// OpenRepository opens a layout (created by its first write) or, for any
// other repository, next's.
func (s *Store) OpenRepository(ctx context.Context, repo name.Repository, push bool) (storage.Writer, error) {
	l, ok, err := s.layout(repo)
	if err != nil {
		return nil, err
	}
	if !ok {
		return s.next.OpenRepository(ctx, repo, push)
	}
	return l, nil
}

var _ storage.Store = (*Store)(nil)
