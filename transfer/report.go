package transfer

import (
	"sort"

	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/storage"
)

// report turns the plan, executed or not, into the Result.
func (p *planner) report() *Result {
	res := p.res
	res.DestinationReferrersAPI = p.api
	for _, rt := range p.roots {
		img := &Image{
			Source:      rt.source,
			Destination: refname.DisplayReference(p.dst.Name().Digest(rt.desc.Digest.String()).String()),
			Digest:      rt.desc.Digest.String(),
			MediaType:   string(rt.node.desc.MediaType),
			Tag:         rt.tag,
		}
		if rt.tag != "" {
			img.Destination = refname.DisplayReference(p.dst.Name().Tag(rt.tag).String())
		}
		if rt.node.m != nil && rt.node.m.isIndex() {
			for _, d := range rt.node.m.Manifests {
				if !storage.IsAttestationManifest(d) {
					img.Platforms++
				}
			}
		}
		moved := rt.tag != "" && rt.previous != rt.desc.Digest
		if moved && rt.previous.Hex != "" {
			img.PreviousDigest = rt.previous.String()
		}
		switch {
		case rt.node.present && !moved:
			img.Status = StatusExists
		case res.DryRun:
			img.Status = StatusWouldCopy
		default:
			img.Status = StatusCopied
		}
		res.Images = append(res.Images, img)
	}
	for _, n := range p.imageNodes() {
		if n.present {
			res.Manifests.Exists++
		} else {
			res.Manifests.Copied++
		}
	}
	res.Attachments = res.Attachments[:0]
	for _, a := range p.atts {
		switch a.rec.Status {
		case StatusExists:
			res.Manifests.Exists++
		case StatusSkipped:
		default:
			res.Manifests.Copied++
		}
		res.Attachments = append(res.Attachments, a.rec)
	}
	sort.SliceStable(res.Attachments, func(i, j int) bool {
		a, b := res.Attachments[i], res.Attachments[j]
		if a.Depth != b.Depth {
			return a.Depth < b.Depth
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		if a.Tag != b.Tag {
			return a.Tag < b.Tag
		}
		return a.Digest < b.Digest
	})
	for _, b := range p.blobs {
		switch {
		case b.present:
			res.Blobs.Exists++
		case b.status == statusMounted:
			res.Blobs.Mounted++
		default:
			res.Blobs.Copied++
			res.Blobs.Bytes += b.desc.Size
		}
	}
	if res.Images == nil {
		res.Images = []*Image{}
	}
	if res.Attachments == nil {
		res.Attachments = []*Attachment{}
	}
	return res
}

func kindOrder(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}
