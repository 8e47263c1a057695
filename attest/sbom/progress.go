package sbom

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ProgressBar returns a progress callback that draws layers done and bytes
// read on w when w is a terminal, and does nothing otherwise (CI logs and
// redirected stderr stay clean). Call the returned func with the final
// Progress (LayersDone == Layers) to end the line.
func ProgressBar(w io.Writer) func(Progress) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(Progress) {}
	}
	width := 30
	finished := false
	return func(p Progress) {
		if finished {
			return
		}
		frac := 0.0
		if p.Bytes > 0 {
			frac = float64(p.BytesDone) / float64(p.Bytes)
		}
		frac = min(max(frac, 0), 1)
		fill := int(frac * float64(width))
		fmt.Fprintf(w, "\rscanning layers %d/%d [%s%s] %s/%s ", p.LayersDone, p.Layers,
			strings.Repeat("=", fill), strings.Repeat(" ", width-fill), humanBytes(p.BytesDone), humanBytes(p.Bytes))
		if p.Layers > 0 && p.LayersDone == p.Layers {
			fmt.Fprintln(w)
			finished = true
		}
	}
}

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
