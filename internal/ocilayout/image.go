package ocilayout

import (
	"context"
	"encoding/json"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Image reads the image manifest d lazily: its config and layers are read
// when asked for, each checked against its digest (layers streamed).
func (l *Layout) Image(ctx context.Context, d v1.Hash) (v1.Image, error) {
	raw, mt, err := l.Manifest(ctx, "", d)
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, l.errf(errkind.Untrusted, "image manifest %s: %v", d, err)
	}
	return partial.CompressedToImage(&image{ctx: ctx, l: l, raw: raw, mt: mt, m: &m})
}

// Index reads the image index d lazily, as Image does an image.
func (l *Layout) Index(ctx context.Context, d v1.Hash) (v1.ImageIndex, error) {
	raw, mt, err := l.Manifest(ctx, "", d)
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, l.errf(errkind.Untrusted, "image index %s: %v", d, err)
	}
	return &index{ctx: ctx, l: l, raw: raw, mt: mt, m: &m, d: d}, nil
}

type image struct {
	ctx context.Context
	l   *Layout
	raw []byte
	mt  types.MediaType
	m   *v1.Manifest
}

func (i *image) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *image) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *image) RawConfigFile() ([]byte, error) {
	return i.l.Blob(i.ctx, i.m.Config, MaxConfigBytes)
}

func (i *image) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &layer{i: i, d: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &layer{i: i, d: d}, nil
		}
	}
	return nil, i.l.errf(errkind.Input, "image has no layer %s", h)
}

type layer struct {
	i *image
	d v1.Descriptor
}

func (l *layer) Digest() (v1.Hash, error)            { return l.d.Digest, nil }
func (l *layer) Size() (int64, error)                { return l.d.Size, nil }
func (l *layer) MediaType() (types.MediaType, error) { return l.d.MediaType, nil }
func (l *layer) Compressed() (io.ReadCloser, error)  { return l.i.l.OpenBlob(l.i.ctx, l.d) }

type index struct {
	ctx context.Context
	l   *Layout
	raw []byte
	mt  types.MediaType
	m   *v1.IndexManifest
	d   v1.Hash
}

func (x *index) MediaType() (types.MediaType, error)       { return x.mt, nil }
func (x *index) Digest() (v1.Hash, error)                  { return x.d, nil }
func (x *index) Size() (int64, error)                      { return int64(len(x.raw)), nil }
func (x *index) IndexManifest() (*v1.IndexManifest, error) { return x.m, nil }
func (x *index) RawManifest() ([]byte, error)              { return x.raw, nil }
func (x *index) Image(h v1.Hash) (v1.Image, error)         { return x.l.Image(x.ctx, h) }
func (x *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return x.l.Index(x.ctx, h)
}
