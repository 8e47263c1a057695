package catalog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// pyMaxHeader bounds what the Python cataloger reads of a metadata file: the
// RFC 822-style header block ends at the first blank line (the long
// description that follows is never read), and it is cut at this size if no
// blank line comes first (a License field holding a whole licence text).
const pyMaxHeader = 1 << 20

// pyMaxLicenseField is the longest License field taken as a licence name;
// longer or multi-line values are licence texts and are ignored in favour of
// classifiers.
const pyMaxLicenseField = 256

// pythonCataloger reads the core metadata of installed Python distributions:
// NAME.dist-info/METADATA (wheels, pip), NAME.egg-info/PKG-INFO and
// NAME.egg/EGG-INFO/PKG-INFO (setuptools), and NAME.egg-info as a single file
// (distutils).
type pythonCataloger struct{}

func (pythonCataloger) Name() string { return "python" }

func (pythonCataloger) Wants(path string, _ fs.FileMode, _ int64) bool {
	dir, base := langSplitDir(path)
	switch base {
	case "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case "PKG-INFO":
		if strings.HasSuffix(dir, ".egg-info") {
			return true
		}
		parent, d := langSplitDir(dir)
		return d == "EGG-INFO" && strings.HasSuffix(parent, ".egg")
	}
	return strings.HasSuffix(base, ".egg-info")
}

func (pythonCataloger) Catalog(f File) ([]Package, error) {
	p, ok, err := pyParseMetadata(f.Content)
	if err != nil {
		return nil, fmt.Errorf("python metadata %s: %w", f.Path, err)
	}
	if !ok {
		return nil, nil
	}
	p.Location, p.Layer = f.Path, f.Layer
	return []Package{p}, nil
}

// pyParseMetadata reads the header block of a core metadata file (at most
// pyMaxHeader bytes) and returns the package it declares, without Location
// and Layer. ok is false for a file with no header at all (an empty
// placeholder is not metadata); headers without Name or Version are an error.
func pyParseMetadata(r io.Reader) (p Package, ok bool, err error) {
	h, err := pyReadHeaders(r)
	if err != nil || len(h) == 0 {
		return Package{}, false, err
	}
	// Unfolded continuation lines make no sense in these two: keep line one.
	name, _, _ := strings.Cut(h.first("name"), "\n")
	version, _, _ := strings.Cut(h.first("version"), "\n")
	if name == "" || version == "" {
		return Package{}, false, errors.New("no Name or Version header")
	}
	p = Package{
		Name:     name,
		Version:  version,
		Type:     "pypi",
		PURL:     langPURL("pypi", "", pyNormalizeName(name), version),
		Licenses: pyLicenses(h),
	}
	for _, k := range []string{"author", "author-email", "maintainer", "maintainer-email"} {
		if v := h.first(k); v != "" && !strings.EqualFold(v, "UNKNOWN") {
			p.Supplier = v
			break
		}
	}
	return p, true, nil
}

// pyHeaders maps lower-cased field names to their values in order.
type pyHeaders map[string][]string

func (h pyHeaders) first(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// pyReadHeaders parses RFC 822-style fields up to the first empty line or
// pyMaxHeader bytes. Continuation lines (starting with space or tab) are
// joined to the previous value with "\n"; lines without a colon are ignored.
// Work is linear in the input.
func pyReadHeaders(r io.Reader) (pyHeaders, error) {
	br := bufio.NewReader(io.LimitReader(r, pyMaxHeader))
	h := pyHeaders{}
	var (
		key string // field being read; "" after a line that is no field
		val strings.Builder
	)
	flush := func() {
		if key != "" {
			h[key] = append(h[key], val.String())
		}
		key = ""
		val.Reset()
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			// Empty line: end of the header block (or of the input). A line
			// of only blanks is a continuation line, as in Python's email
			// parser (setuptools writes those inside License texts).
			flush()
			return h, nil
		}
		switch {
		case trimmed[0] == ' ' || trimmed[0] == '\t':
			if key != "" {
				val.WriteByte('\n')
				val.WriteString(strings.TrimSpace(trimmed))
			}
		default:
			flush()
			if k, v, ok := strings.Cut(trimmed, ":"); ok {
				key = strings.ToLower(strings.TrimSpace(k))
				val.WriteString(strings.TrimSpace(v))
			}
		}
		if err != nil { // EOF without a trailing newline
			flush()
			return h, nil
		}
	}
}

// pyLicenses chooses the licences the metadata states, most precise first:
// License-Expression (SPDX, metadata 2.4), a short single-line License
// field, else the "License ::" trove classifiers (last segment, as
// "MIT License").
func pyLicenses(h pyHeaders) []string {
	if e := h.first("license-expression"); e != "" {
		return []string{e}
	}
	if l := h.first("license"); l != "" && !strings.Contains(l, "\n") &&
		len(l) <= pyMaxLicenseField && !strings.EqualFold(l, "UNKNOWN") && !strings.EqualFold(l, "none") {
		return []string{l}
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range h["classifier"] {
		parts := strings.Split(c, "::")
		if len(parts) < 2 || strings.TrimSpace(parts[0]) != "License" {
			continue
		}
		l := strings.TrimSpace(parts[len(parts)-1])
		if len(parts) == 2 && l == "OSI Approved" {
			continue // "License :: OSI Approved" alone names no licence
		}
		if l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// pyNormalizeName is PEP 503 normalisation, as the pypi purl type wants:
// lower case, runs of '-', '_' and '.' become one '-'.
func pyNormalizeName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
		}
		sep = false
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}
