package transfer

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// ProgressBar returns a Progress callback that draws blobs, bytes and
// manifests done on w when w is a terminal, at most ten times a second, and
// nil otherwise (CI logs and redirected stderr stay clean). The final state
// ends the line; end ends it when the copy stopped short.
func ProgressBar(w io.Writer) (update func(Progress), end func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	const width = 30
	var mu sync.Mutex
	var last time.Time
	drawn, finished := false, false
	end = func() {
		mu.Lock()
		defer mu.Unlock()
		if drawn && !finished {
			fmt.Fprintln(w)
			finished = true
		}
	}
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		done := p.BlobsDone == p.Blobs && p.ManifestsDone == p.Manifests
		if finished || (p.Blobs == 0 && p.Manifests == 0) || (!done && time.Since(last) < 100*time.Millisecond) {
			return
		}
		drawn = true
		last = time.Now()
		frac := 1.0
		if p.Bytes > 0 {
			frac = min(max(float64(p.BytesDone)/float64(p.Bytes), 0), 1)
		}
		fill := int(frac * width)
		fmt.Fprintf(w, "\rcopying blobs %d/%d [%s%s] %s/%s, manifests %d/%d ", p.BlobsDone, p.Blobs,
			strings.Repeat("=", fill), strings.Repeat(" ", width-fill), humanBytes(p.BytesDone), humanBytes(p.Bytes), p.ManifestsDone, p.Manifests)
		if done {
			fmt.Fprintln(w)
			finished = true
		}
	}, end
}

// HumanBytes writes n bytes for people: 512 B, 1.5 KiB, 12.3 MiB.
func HumanBytes(n int64) string { return humanBytes(n) }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
