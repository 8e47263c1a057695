package e2e

// The README's "Try it in 5 minutes" is the first thing a newcomer runs, so
// its commands are run here exactly as written — extracted from README.md,
// not copied — against the embedded registry binary. Only the registry's
// port is changed, to a free one. The documentation's relative links are
// checked too: moving a section must not leave a link pointing nowhere.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// readmeAddr is the registry address the README's commands use.
const readmeAddr = "127.0.0.1:5050"

func TestReadmeTryIt(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(t, markdownSection(t, string(readme), "## Try it in 5 minutes"))
	var registryBlock, stepsBlock string
	for _, b := range blocks {
		switch {
		case strings.Contains(b, "devregistry -addr"):
			registryBlock = b
		case strings.Contains(b, "imgsign verify"):
			stepsBlock = b
		}
	}
	if registryBlock == "" || stepsBlock == "" {
		t.Fatalf("the try-it section needs a block starting the registry (devregistry -addr) and one with the steps (imgsign verify); found %d sh blocks", len(blocks))
	}
	if !strings.Contains(string(readme), "make demo") {
		t.Error("the try-it section no longer mentions make demo")
	}
	// The README is a way in, read start to end by a newcomer; reference
	// material belongs in docs/.
	if len(readme) > 15<<10 {
		t.Errorf("README.md is %d bytes, over 15 KiB: move reference material to docs/ and link it", len(readme))
	}

	// The commands run from a directory laid out like a built clone: bin/
	// holds imgsign and devregistry, as `make build` leaves them.
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.Imgsign(t), filepath.Join(bin, "imgsign")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "devregistry"), "./internal/cmd/devregistry")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building devregistry: %v\n%s", err, out)
	}

	addr := testenv.FreeAddr(t)
	env := []string{
		"HOME=" + work,
		"PATH=" + os.Getenv("PATH"),
		"TMPDIR=" + t.TempDir(), // the steps' mktemp -d lands here and is removed
		"DOCKER_CONFIG=" + filepath.Join(work, ".docker"),
	}

	// Terminal one: the registry, in the foreground until stopped. `make
	// build` was done above.
	var regCmd []string
	for _, line := range strings.Split(registryBlock, "\n") {
		line = strings.TrimSpace(stripComment(line))
		if line == "" || strings.HasPrefix(line, "make build") {
			continue
		}
		regCmd = append(regCmd, strings.ReplaceAll(line, readmeAddr, addr))
	}
	if len(regCmd) != 1 {
		t.Fatalf("the registry block should hold make build and one command starting the registry, found %q", regCmd)
	}
	reg := exec.Command("sh", "-c", "exec "+regCmd[0])
	reg.Dir, reg.Env = work, env
	var regLogs bytes.Buffer
	reg.Stdout, reg.Stderr = &regLogs, &regLogs
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Process.Kill(); _ = reg.Wait() })
	waitListening(t, addr, &regLogs)

	// Terminal two: the steps, as one script. Every command must succeed
	// except where the README itself handles the failure (`|| echo …`).
	script := "trap 'echo \"README step failed (exit $?): $BASH_COMMAND\"' ERR\n" +
		strings.ReplaceAll(stepsBlock, readmeAddr, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	steps := exec.CommandContext(ctx, "bash", "-c", script)
	steps.Dir, steps.Env = work, env
	out, err := steps.CombinedOutput()
	got := string(out)
	if err != nil {
		t.Fatalf("the steps did not finish: %v\n%s", err, got)
	}
	if strings.Contains(got, "README step failed") {
		t.Fatalf("a README command failed:\n%s", got)
	}
	for _, want := range []string{"trusted: exit 0", "rejected: exit 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q: verify did not PASS before and FAIL after the image was replaced:\n%s", want, got)
		}
	}

	// The output the README shows (comment lines "#   …") is real output:
	// each shown line starts a line imgsign printed, with hashes shortened
	// to "…" standing for their full or shortened form.
	outLines := strings.Split(got, "\n")
	for _, shown := range shownOutput(stepsBlock) {
		re := shownLinePattern(strings.ReplaceAll(shown, readmeAddr, addr))
		found := false
		for _, l := range outLines {
			if re.MatchString(strings.TrimSpace(l)) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("the README shows output imgsign does not print:\n  %s\nreal output:\n%s", shown, got)
		}
	}
}

// markdownSection returns the text under a "## " heading up to the next one.
func markdownSection(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// shellBlocks returns the bodies of the ```sh code blocks in text.
func shellBlocks(t *testing.T, text string) []string {
	t.Helper()
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatal("an unterminated code block in the try-it section")
	}
	return blocks
}

// stripComment drops a trailing "# …" comment from a simple command line.
func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		return line[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return line
}

// shownOutput returns the sample output lines in a block: comment lines
// indented by three spaces after the "#".
func shownOutput(block string) []string {
	var shown []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "#   ") {
			shown = append(shown, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		}
	}
	return shown
}

// shownLinePattern turns a sample line into a pattern matching the start of
// a real line: a token cut short with "…" matches the token in full or cut.
func shownLinePattern(shown string) *regexp.Regexp {
	parts := strings.Split(shown, "…")
	var b strings.Builder
	b.WriteString("^")
	for i, p := range parts {
		if i < len(parts)-1 {
			// The visible start of a cut token differs from run to run.
			p = strings.TrimRight(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
		}
		b.WriteString(regexp.QuoteMeta(p))
		if i < len(parts)-1 {
			b.WriteString(`[A-Za-z0-9+/=]+…?`)
		}
	}
	return regexp.MustCompile(b.String())
}

func waitListening(t *testing.T, addr string, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the README's registry command did not listen on %s:\n%s", addr, logs)
}

// Every relative link in the README, CONTRIBUTING.md and docs/ names a file
// that exists and, with a #fragment, a heading in it.
func TestDocsLinks(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../README.md", "../CONTRIBUTING.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(proseOnly(string(text)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", filepath.Base(doc), target, err)
				continue
			}
			if frag == "" {
				continue
			}
			body, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: link %s: %v", filepath.Base(doc), target, err)
				continue
			}
			if !headingAnchors(string(body))[frag] {
				t.Errorf("%s: link %s: %s has no heading with anchor #%s", filepath.Base(doc), target, filepath.Base(path), frag)
			}
		}
	}
}

// proseOnly blanks fenced code blocks, where "](" and "#" are not markdown.
func proseOnly(doc string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// headingAnchors returns the anchors GitHub gives a document's headings:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(proseOnly(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && (r < 0x2000 || r > 0x2BFF):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}
