package catalog

// Language-ecosystem catalogers: Go binaries, Python installed
// distributions, npm packages installed under node_modules, and Java
// archives. This file holds what they share: the constructor list, package
// URL building, and bounded spooling. Unexported identifiers in these files
// carry a "lang" (or ecosystem) prefix so they cannot collide with the OS
// catalogers living in the same package.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Language returns the language-ecosystem catalogers: Go binaries
// ("go-binary"), Python installed distributions ("python"), npm packages
// installed under node_modules or a distribution's nodejs directories
// ("npm"), npm/Yarn/pnpm lock files ("npm-lock"), Java archives
// ("java-archive"), installed Ruby gems ("ruby-gemspec"), Cargo.lock files
// ("rust-cargo-lock"), executables built with cargo auditable
// ("rust-audit-binary"), Composer's installed.json and composer.lock
// ("php-composer") and .NET *.deps.json files ("dotnet-deps").
func Language() []Cataloger {
	return []Cataloger{
		goBinaryCataloger{},
		pythonCataloger{},
		npmCataloger{},
		npmLockCataloger{},
		javaCataloger{},
		rubyCataloger{},
		rustLockCataloger{},
		rustAuditCataloger{},
		phpCataloger{},
		dotnetCataloger{},
	}
}

// langPURL builds a package URL (https://github.com/package-url/purl-spec)
// without qualifiers or subpath. namespace may be empty or hold several
// '/'-separated segments (Go module paths); each segment, the name and the
// version are percent-encoded: everything but ASCII letters, digits, ".-_~"
// and ':' is encoded as %XX (upper-case hex) of its UTF-8 bytes, so '@', '/',
// '+', ' ' and non-ASCII never appear raw in a component. Type-specific
// normalisation (npm and pypi lower-casing, PEP 503) is the caller's job.
func langPURL(typ, namespace, name, version string) string {
	var b strings.Builder
	b.Grow(len("pkg:") + len(typ) + len(namespace) + len(name) + len(version) + 8)
	b.WriteString("pkg:")
	b.WriteString(strings.ToLower(typ))
	b.WriteByte('/')
	if ns := strings.Trim(namespace, "/"); ns != "" {
		for seg := range strings.SplitSeq(ns, "/") {
			if seg == "" {
				continue // collapse "a//b"
			}
			langPctEncode(&b, seg)
			b.WriteByte('/')
		}
	}
	langPctEncode(&b, strings.Trim(name, "/"))
	if version != "" {
		b.WriteByte('@')
		langPctEncode(&b, version)
	}
	return b.String()
}

// langPctEncode writes s percent-encoded per the purl spec's "Character
// encoding" rules: the allowed set is the alphanumerics and ".-_~", and the
// colon is never encoded.
func langPctEncode(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '_', c == '~', c == ':':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
	}
}

// langHasSuffixFold reports whether s ends with the ASCII suffix (given in
// lower case), ignoring ASCII case, without allocating.
func langHasSuffixFold(s, lowerSuffix string) bool {
	if len(s) < len(lowerSuffix) {
		return false
	}
	t := s[len(s)-len(lowerSuffix):]
	for i := 0; i < len(t); i++ {
		c := t[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerSuffix[i] {
			return false
		}
	}
	return true
}

// langSplitDir splits a slash path into its directory and base name without
// allocating ("a/b/c" → "a/b", "c"; "c" → "", "c").
func langSplitDir(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// langSpooled is content made randomly accessible by langSpool.
type langSpooled struct {
	io.ReaderAt
	Size  int64
	close func()
}

// Close releases the spooled content (removes the temporary file).
func (s *langSpooled) Close() {
	if s.close != nil {
		s.close()
		s.close = nil
	}
}

// errLangTooLarge reports content over a cataloger's bound.
type errLangTooLarge struct {
	what  string
	limit int64
}

func (e errLangTooLarge) Error() string {
	return fmt.Sprintf("%s larger than the %d byte bound", e.what, e.limit)
}

// langSpool reads r completely into something with random access: memory
// when sizeHint ≤ memMax, a temporary file (removed by Close) otherwise.
// It reads at most limit bytes and fails with errLangTooLarge beyond that, so
// neither memory nor disk use can exceed the bound whatever r holds.
func langSpool(r io.Reader, sizeHint, memMax, limit int64, what string) (*langSpooled, error) {
	if sizeHint > limit {
		return nil, errLangTooLarge{what, limit}
	}
	lr := io.LimitReader(r, limit+1)
	if sizeHint >= 0 && sizeHint <= memMax {
		var buf bytes.Buffer
		buf.Grow(int(sizeHint) + bytes.MinRead)
		// Reading into memory past memMax would break the memory bound, so
		// a size hint that lied sends the rest to a file instead.
		n, err := buf.ReadFrom(io.LimitReader(lr, memMax+1))
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, errLangTooLarge{what, limit}
		}
		if n <= memMax {
			data := buf.Bytes()
			return &langSpooled{ReaderAt: bytes.NewReader(data), Size: int64(len(data))}, nil
		}
		return langSpoolFile(io.MultiReader(bytes.NewReader(buf.Bytes()), lr), limit, what)
	}
	return langSpoolFile(lr, limit, what)
}

func langSpoolFile(r io.Reader, limit int64, what string) (*langSpooled, error) {
	tmp, err := os.CreateTemp("", "imgsign-sbom-*")
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, r)
	if err != nil {
		cleanup()
		return nil, err
	}
	if n > limit {
		cleanup()
		return nil, errLangTooLarge{what, limit}
	}
	return &langSpooled{ReaderAt: tmp, Size: n, close: cleanup}, nil
}

// langDedup drops packages whose PURL was already seen, keeping order.
func langDedup(pkgs []Package) []Package {
	if len(pkgs) < 2 {
		return pkgs
	}
	seen := make(map[string]bool, len(pkgs))
	out := pkgs[:0]
	for _, p := range pkgs {
		if seen[p.PURL] {
			continue
		}
		seen[p.PURL] = true
		out = append(out, p)
	}
	return out
}
