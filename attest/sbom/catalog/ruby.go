package catalog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// Bounds of the Ruby gem cataloger.
const (
	// rubyMaxGemspec is the largest gemspec read (Wants skips bigger ones):
	// installed specifications are a few KiB.
	rubyMaxGemspec = 1 << 20
	// rubyMaxLine bounds one line; longer lines are skipped, not buffered.
	rubyMaxLine = 64 << 10
)

// rubyCataloger reads installed gem specifications: the
// specifications/NAME-VERSION.gemspec files RubyGems writes when it installs
// a gem (GEM_HOME/specifications, …/specifications/default for the gems
// bundled with Ruby, and Debian's rubygems-integration directories). Like
// syft's installed-gemspec cataloger it reads the Ruby source as text, not by
// evaluating it: "x.name = "…"", "x.version = "…"" and the authors and
// licenses arrays, with ".freeze" and \uXXXX escapes undone. The last
// assignment of a field wins.
type rubyCataloger struct{}

func (rubyCataloger) Name() string { return "ruby-gemspec" }

func (rubyCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > rubyMaxGemspec || !strings.HasSuffix(path, ".gemspec") {
		return false
	}
	return strings.HasPrefix(path, "specifications/") || strings.Contains(path, "/specifications/")
}

func (rubyCataloger) Catalog(f File) ([]Package, error) {
	p, ok, err := rubyParseGemspec(io.LimitReader(f.Content, rubyMaxGemspec))
	if err != nil {
		return nil, fmt.Errorf("gemspec %s: %w", f.Path, err)
	}
	if !ok {
		return nil, nil
	}
	p.Location, p.Layer = f.Path, f.Layer
	return []Package{p}, nil
}

// rubyParseGemspec returns the gem a specification declares; ok is false
// when it has no literal name or version. Work is linear in the input.
func rubyParseGemspec(r io.Reader) (p Package, ok bool, err error) {
	br := bufio.NewReaderSize(r, 4096)
	var name, version string
	var authors, licenses []string
	for {
		line, tooLong, rerr := rubyReadLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return Package{}, false, rerr
		}
		if !tooLong {
			line = strings.ReplaceAll(strings.TrimSpace(line), ".freeze", "")
			line = rubyUnescapeUnicode(line)
			switch {
			case rubyField(line, "name", &name):
			case rubyField(line, "version", &version):
			case rubyListField(line, "authors", &authors):
			case rubyListField(line, "licenses", &licenses):
			}
		}
		if rerr != nil {
			break
		}
	}
	if name == "" || version == "" {
		return Package{}, false, nil
	}
	return Package{
		Name: name, Version: version, Type: "gem",
		PURL:     langPURL("gem", "", name, version),
		Licenses: licenses,
		Supplier: strings.Join(authors, ", "),
	}, true, nil
}

// rubyReadLine reads one line without its end; a line longer than
// rubyMaxLine is consumed and reported as tooLong, never buffered whole.
func rubyReadLine(br *bufio.Reader) (line string, tooLong bool, err error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return string(b), tooLong, err
		}
		if !tooLong {
			if len(b)+len(chunk) > rubyMaxLine {
				tooLong, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		if !isPrefix {
			return string(b), tooLong, nil
		}
	}
}

// rubyAssignment finds the last ".FIELD = " on the line (what syft's
// greedy ".*\.FIELD\s*=\s*" matches) and returns what follows the '='.
func rubyAssignment(line, field string) (string, bool) {
	needle := "." + field
	for end := len(line); end > 0; {
		i := strings.LastIndex(line[:end], needle)
		if i < 0 {
			return "", false
		}
		rest := strings.TrimLeft(line[i+len(needle):], " \t")
		if strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "==") {
			return strings.TrimLeft(rest[1:], " \t"), true
		}
		end = i
	}
	return "", false
}

// rubyField sets *dst to a quoted value: the text between the opening quote
// and the last quote of the line, as syft's pattern takes it.
func rubyField(line, field string, dst *string) bool {
	rest, ok := rubyAssignment(line, field)
	if !ok || rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return false
	}
	j := strings.LastIndexAny(rest, `"'`)
	if j <= 0 {
		return false
	}
	if v := rest[1:j]; v != "" {
		*dst = v
		return true
	}
	return false
}

// rubyListField sets *dst to the items of a one-line array ["a", "b"].
func rubyListField(line, field string, dst *[]string) bool {
	rest, ok := rubyAssignment(line, field)
	if !ok || !strings.HasPrefix(rest, "[") {
		return false
	}
	j := strings.LastIndexByte(rest, ']')
	if j < 0 {
		return false
	}
	var items []string
	for item := range strings.SplitSeq(rest[1:j], ",") {
		if item = strings.Trim(item, `"' `); item != "" {
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return false
	}
	*dst = items
	return true
}

// rubyUnescapeUnicode turns the \uXXXX escapes RubyGems writes for
// non-ASCII characters ("Andr\u00E9") into UTF-8.
func rubyUnescapeUnicode(s string) string {
	if !strings.Contains(s, `\u`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+6 <= len(s) && s[i+1] == 'u' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				b.WriteRune(rune(n))
				i += 5
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
