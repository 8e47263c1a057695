package transfer

import (
	"io"
	"strconv"
	"strings"

	"github.com/imgsign/imgsign/internal/safetext"
)

// WriteText prints the result for people: each image, each attachment and
// what happened to it, the blob and manifest counts, and notes.
func (r *Result) WriteText(w io.Writer) {
	if r.DryRun {
		safetext.Fprintf(w, "dry run: nothing was written\n")
	}
	for _, img := range r.Images {
		what := "image"
		if img.Platforms > 0 {
			what = "index of " + count(img.Platforms, "platform manifest")
		}
		safetext.Fprintf(w, "%s → %s: %s\n  %s (%s)", img.Source, img.Destination, statusText(img.Status), img.Digest, what)
		if img.PreviousDigest != "" {
			safetext.Fprintf(w, "; the tag named %s before", img.PreviousDigest)
		}
		safetext.Fprintf(w, "\n")
	}
	if len(r.Attachments) > 0 {
		safetext.Fprintf(w, "attachments:\n")
	}
	for _, a := range r.Attachments {
		name := a.Digest
		if a.Tag != "" {
			name = a.Tag + " (cosign legacy tag)"
		}
		about := a.PredicateType
		if about == "" {
			about = a.ArtifactType
		}
		indent := strings.Repeat("  ", a.Depth)
		line := indent + string(a.Kind) + "  " + name
		if about != "" {
			line += "  " + about
		}
		line += "  on " + short(a.Subject) + ": " + statusText(a.Status)
		if a.Reason != "" {
			line += " (" + a.Reason + ")"
		}
		safetext.Fprintf(w, "%s\n", line)
	}
	verb := "copied"
	if r.DryRun {
		verb = "to copy"
	}
	safetext.Fprintf(w, "blobs: %d %s (%s), %d mounted from the source repository, %d already there\n",
		r.Blobs.Copied, verb, humanBytes(r.Blobs.Bytes), r.Blobs.Mounted, r.Blobs.Exists)
	safetext.Fprintf(w, "manifests: %d %s, %d already there\n", r.Manifests.Copied, verb, r.Manifests.Exists)
	if r.DestinationReferrersAPI != nil {
		how := "the OCI referrers API"
		if !*r.DestinationReferrersAPI {
			how = "the referrers tag schema (the registry has no referrers API)"
		}
		safetext.Fprintf(w, "the destination stores referrers through %s\n", how)
	}
	for _, n := range r.Notes {
		safetext.Fprintf(w, "note: %s\n", n)
	}
}

func statusText(s Status) string {
	switch s {
	case StatusExists:
		return "already there"
	case StatusWouldCopy:
		return "would copy"
	case StatusWouldMerge:
		return "would merge into the destination's tag"
	case StatusMerged:
		return "merged into the destination's tag"
	}
	return string(s)
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13] + "…"
	}
	return d
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
