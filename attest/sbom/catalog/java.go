package catalog

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of the Java archive cataloger.
const (
	// javaMaxArchive is the largest archive read (Wants skips bigger ones):
	// a zip needs random access, so it is spooled whole.
	javaMaxArchive = 256 << 20
	// javaMemSpool: archives (and nested archives) up to this size are held
	// in memory, larger ones in a temporary file removed afterwards.
	javaMemSpool = 16 << 20
	// javaMaxNested bounds one nested archive (uncompressed).
	javaMaxNested = 128 << 20
	// javaMaxNestedTotal bounds all nested archives extracted while reading
	// one image file, whatever their nesting.
	javaMaxNestedTotal = 512 << 20
	// javaMaxDepth is how many archive levels below the image file are read
	// (ear → war → WEB-INF/lib jar is two).
	javaMaxDepth = 3
	// javaMaxManifest and javaMaxPomProps bound the metadata entries read.
	javaMaxManifest = 1 << 20
	javaMaxPomProps = 64 << 10
	javaMinArchive  = 22 // an empty zip: the end of central directory record
)

// javaCataloger reads Java archives (.jar, .war, .ear, and Jenkins plugins
// .jpi/.hpi): every META-INF/maven/**/pom.properties (Maven coordinates), the
// META-INF/MANIFEST.MF main section, and nested archives at any path inside
// (WEB-INF/lib, BOOT-INF/lib, lib/, …) recursively.
type javaCataloger struct{}

func (javaCataloger) Name() string { return "java-archive" }

func (javaCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	return size >= javaMinArchive && size <= javaMaxArchive && javaArchiveName(path)
}

// javaArchiveName reports whether a file name has a Java archive extension.
func javaArchiveName(p string) bool {
	return langHasSuffixFold(p, ".jar") || langHasSuffixFold(p, ".war") ||
		langHasSuffixFold(p, ".ear") || langHasSuffixFold(p, ".jpi") ||
		langHasSuffixFold(p, ".hpi")
}

func (javaCataloger) Catalog(f File) ([]Package, error) {
	sp, err := langSpool(f.Content, f.Size, javaMemSpool, javaMaxArchive, "java archive")
	if err != nil {
		return nil, fmt.Errorf("java archive %s: %w", f.Path, err)
	}
	defer sp.Close()
	zr, err := javaOpenZip(sp, sp.Size)
	if err != nil {
		return nil, fmt.Errorf("java archive %s: %w", f.Path, err)
	}
	budget := int64(javaMaxNestedTotal)
	pkgs, err := javaScan(zr, path.Base(f.Path), 0, &budget)
	if err != nil {
		return nil, fmt.Errorf("java archive %s: %w", f.Path, err)
	}
	pkgs = langDedup(pkgs)
	for i := range pkgs {
		pkgs[i].Location, pkgs[i].Layer = f.Path, f.Layer
	}
	return pkgs, nil
}

// javaOpenZip opens a zip archive. Entry names are only compared, never
// used as file paths, so archives with non-local names ("../x", refused by
// archive/zip under GODEBUG=zipinsecurepath=0) are read all the same.
func javaOpenZip(r io.ReaderAt, size int64) (*zip.Reader, error) {
	zr, err := zip.NewReader(r, size)
	if errors.Is(err, zip.ErrInsecurePath) && zr != nil {
		err = nil
	}
	return zr, err
}

// javaPom is one META-INF/maven/GROUP/ARTIFACT/pom.properties.
type javaPom struct{ group, artifact, version string }

// javaScan returns the packages of one opened archive and, recursively, of
// the archives nested in it. fileName is the archive's base name. budget is
// what may still be extracted for nested archives. Metadata entries that
// cannot be read make the archive's own result an error; a nested archive
// that is corrupt or over a bound is skipped.
func javaScan(zr *zip.Reader, fileName string, depth int, budget *int64) ([]Package, error) {
	var (
		manifest map[string]string
		poms     []javaPom
		nested   []*zip.File
	)
	for _, zf := range zr.File {
		name := zf.Name
		switch {
		case strings.HasSuffix(name, "/"):
			continue
		case strings.EqualFold(name, "META-INF/MANIFEST.MF"):
			if manifest != nil {
				continue
			}
			m, err := javaReadEntry(zf, javaMaxManifest, javaParseManifest)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			manifest = m
		case strings.HasPrefix(name, "META-INF/maven/") && strings.HasSuffix(name, "/pom.properties"):
			props, err := javaReadEntry(zf, javaMaxPomProps, javaParseProperties)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p := javaPom{props["groupId"], props["artifactId"], props["version"]}
			if p.group != "" && p.artifact != "" && p.version != "" {
				poms = append(poms, p)
			}
		case depth < javaMaxDepth && javaArchiveName(name):
			nested = append(nested, zf)
		}
	}

	pkgs := javaOwnPackages(fileName, manifest, poms)
	for _, zf := range nested {
		pkgs = append(pkgs, javaScanNested(zf, depth+1, budget)...)
	}
	return pkgs, nil
}

// javaScanNested extracts one nested archive within the bounds and scans it;
// it returns nothing when the entry is over a bound or not a readable zip.
func javaScanNested(zf *zip.File, depth int, budget *int64) []Package {
	size := zf.UncompressedSize64
	if size < javaMinArchive || size > javaMaxNested || int64(size) > *budget {
		return nil
	}
	rc, err := zf.Open()
	if err != nil {
		return nil
	}
	// The declared size may lie: the spool enforces the bound on what is
	// actually read.
	sp, err := langSpool(rc, int64(size), javaMemSpool, min(int64(javaMaxNested), *budget), "nested archive")
	_ = rc.Close()
	if err != nil {
		return nil
	}
	defer sp.Close()
	*budget -= sp.Size
	zr, err := javaOpenZip(sp, sp.Size)
	if err != nil {
		return nil
	}
	pkgs, err := javaScan(zr, path.Base(zf.Name), depth, budget)
	if err != nil {
		return nil
	}
	return pkgs
}

// javaOwnPackages turns an archive's pom.properties and manifest into
// packages. Every pom.properties is a package (a shaded jar carries those of
// what it bundles). The archive itself is identified by the pom.properties
// whose artifactId matches the file name (or the only one); that package gets
// the manifest's licence and vendor. Without such a pom.properties the
// archive's own package comes from the manifest and file name, when a version
// is known.
func javaOwnPackages(fileName string, manifest map[string]string, poms []javaPom) []Package {
	base := strings.TrimSuffix(fileName, path.Ext(fileName))
	fnName, fnVersion := javaSplitFileName(base)
	licenses := javaManifestLicenses(manifest["bundle-license"])
	supplier := javaFirst(manifest, "implementation-vendor", "bundle-vendor", "specification-vendor")

	own := -1
	for i, p := range poms {
		if p.artifact == fnName || base == p.artifact || strings.HasPrefix(base, p.artifact+"-"+p.version) {
			own = i
			break
		}
	}
	// A lone pom.properties whose artifactId is not the file's name (Debian
	// renames jars: jetty9-util.jar holds org.eclipse.jetty:jetty-util) is
	// the archive's own only if neither the manifest nor the file name
	// contradicts it: another version there means the pom is that of a
	// library shaded into the archive, and the archive itself is named by
	// its manifest and file name, as syft does.
	if own < 0 && len(poms) == 1 {
		mv := javaFirst(manifest, "implementation-version", "bundle-version", "specification-version")
		if (mv == "" || mv == poms[0].version) && (fnVersion == "" || fnVersion == poms[0].version) {
			own = 0
		}
	}

	var pkgs []Package
	if own < 0 {
		// The archive named as syft names it: name from the Maven Bundle
		// Plugin's symbolic name, else the file name, else the manifest's
		// titles; version from the file name, else the manifest.
		name := javaSelectName(manifest, fnName)
		version := fnVersion
		if version == "" {
			version = javaFirst(manifest, "implementation-version", "specification-version", "plugin-version", "bundle-version")
		}
		if name != "" && version != "" {
			group := javaManifestGroup(manifest)
			if group == "" {
				// The maven purl type requires a namespace; like syft, the
				// artifact name stands in for an unknown groupId.
				group = name
			}
			pkgs = append(pkgs, Package{
				Name: name, Version: version, Type: "maven",
				PURL:     langPURL("maven", group, name, version),
				Licenses: licenses, Supplier: supplier,
			})
		}
	}
	for i, p := range poms {
		pkg := Package{
			Name: p.artifact, Version: p.version, Type: "maven",
			PURL: langPURL("maven", p.group, p.artifact, p.version),
		}
		if i == own {
			pkg.Licenses, pkg.Supplier = licenses, supplier
			// The archive's own package goes first.
			pkgs = append([]Package{pkg}, pkgs...)
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs
}

// javaSelectName names an archive that no pom.properties identifies, in
// syft's order: the last segment of the Bundle-SymbolicName when the Apache
// Maven Bundle Plugin wrote the manifest (it derives that name from
// GROUP.ARTIFACT), else the file name's name part (the last segment of a
// GROUP.ARTIFACT-like one), else the manifest's names and titles. Unlike
// syft, OSGi directives (";singleton:=true") are cut off first.
func javaSelectName(manifest map[string]string, fnName string) string {
	if strings.Contains(manifest["created-by"], "Apache Maven Bundle Plugin") {
		if bsn := javaFirst(manifest, "bundle-symbolicname"); bsn != "" && bsn != javaFirst(manifest, "implementation-vendor-id") {
			return bsn[strings.LastIndexByte(bsn, '.')+1:]
		}
	}
	if fnName != "" {
		if strings.Contains(fnName, ".") && !strings.HasPrefix(fnName, "org.eclipse.") {
			segs := strings.Split(fnName, ".")
			ident := true
			for _, seg := range segs {
				r, _ := utf8.DecodeRuneInString(seg)
				if seg == "" || !(unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Sc, r) || unicode.Is(unicode.Pc, r)) {
					ident = false
					break
				}
			}
			if ident {
				return segs[len(segs)-1]
			}
		}
		return fnName
	}
	return javaFirst(manifest, "name", "bundle-name", "short-name", "extension-name", "implementation-title")
}

// javaGroupFields are the manifest attributes syft takes a groupId from, in
// two tiers: a value that starts like a reverse domain name, the
// alphabetically first of the first tier that has one. syft's second tier
// also has Main-Class, a class name ("org.apache.tools.ant.Main"), which is
// no groupId: it is left out. (Before the manifest, syft looks artifactIds
// up in a table of its own, org.apache.ant for ant; imgsign does not.)
var javaGroupFields = [][]string{
	{"group-id", "bundle-symbolicname", "extension-name", "specification-vendor", "implementation-vendor",
		"implementation-vendor-id", "implementation-title", "bundle-activator"},
	{"automatic-module-name", "package"},
}

// javaManifestGroup is the groupId syft reads from a manifest ("" if none).
func javaManifestGroup(manifest map[string]string) string {
	for _, fields := range javaGroupFields {
		var ids []string
		for _, f := range fields {
			v := manifest[f]
			if !(strings.HasPrefix(v, "com") || strings.HasPrefix(v, "org") || strings.HasPrefix(v, "net") ||
				strings.HasPrefix(v, "io") || strings.HasPrefix(v, "be")) {
				continue
			}
			v, _, _ = strings.Cut(v, ";")
			v, _, _ = strings.Cut(v, "#")
			if v = strings.TrimSpace(v); v != "" {
				ids = append(ids, v)
			}
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			return ids[0]
		}
	}
	return ""
}

// javaFirst returns the first non-empty manifest attribute among keys, with
// OSGi directives (";singleton:=true") cut off.
func javaFirst(m map[string]string, keys ...string) string {
	for _, k := range keys {
		v, _, _ := strings.Cut(m[k], ";")
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// javaManifestLicenses splits an OSGi Bundle-License ("Apache-2.0",
// "MIT;link=…", a URL, or a comma-separated list of those).
func javaManifestLicenses(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		l, _, _ := strings.Cut(part, ";")
		l = strings.Trim(strings.TrimSpace(l), `"`)
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// javaReadEntry opens a zip entry and parses at most limit bytes of it.
func javaReadEntry(zf *zip.File, limit int64, parse func(io.Reader) (map[string]string, error)) (map[string]string, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return parse(io.LimitReader(rc, limit))
}

// javaParseManifest reads the main section of a JAR manifest: "Key: value"
// lines, continuation lines starting with one space, ended by an empty line.
// Keys are lower-cased (manifest keys are case-insensitive); a repeated key
// keeps its first value. Work is linear in the input.
func javaParseManifest(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	br := bufio.NewReader(r)
	var (
		key string
		val strings.Builder
	)
	flush := func() {
		if _, dup := m[key]; key != "" && !dup {
			m[key] = val.String()
		}
		key = ""
		val.Reset()
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			flush()
			return m, nil // end of the main section (or of the input)
		}
		if line[0] == ' ' {
			if key != "" {
				val.WriteString(line[1:])
			}
		} else {
			flush()
			if k, v, ok := strings.Cut(line, ":"); ok {
				key = strings.ToLower(strings.TrimSpace(k))
				val.WriteString(strings.TrimLeft(v, " "))
			}
		}
		if err != nil {
			flush()
			return m, nil
		}
	}
}

// javaParseProperties reads a Java .properties file as Maven writes
// pom.properties: "key=value" (or ':' or whitespace as separator), '#' and
// '!' comments, backslash escapes and line continuations. Work is linear in
// the input.
func javaParseProperties(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	br := bufio.NewReader(r)
	var logical strings.Builder // a line and its continuations
	cont := false
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		eof := err != nil
		line = strings.TrimLeft(strings.TrimRight(line, "\r\n"), " \t\f")
		if !cont && (line == "" || line[0] == '#' || line[0] == '!') {
			if eof {
				return m, nil
			}
			continue
		}
		// An odd number of trailing backslashes continues the line.
		if n := len(line) - len(strings.TrimRight(line, `\`)); n%2 == 1 && !eof {
			logical.WriteString(line[:len(line)-1])
			cont = true
			continue
		}
		logical.WriteString(line)
		k, v := javaSplitProperty(logical.String())
		logical.Reset()
		cont = false
		if k != "" {
			m[k] = v
		}
		if eof {
			return m, nil
		}
	}
}

// javaSplitProperty splits a logical properties line at the first unescaped
// '=', ':' or whitespace and unescapes both halves.
func javaSplitProperty(line string) (key, value string) {
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
	}
	if i > len(line) {
		i = len(line)
	}
	key = line[:i]
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return javaUnescape(key), strings.TrimSpace(javaUnescape(rest))
}

func javaUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		default: // \uXXXX is left as is; Maven never writes it for coordinates
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// javaSplitFileName splits "artifact-version" file names: the version starts
// at the first '-'-separated segment that begins with a digit
// ("commons-lang3-3.12.0", "guava-31.1-jre"), moved right past a word that
// is not a version qualifier when another numeric segment follows
// ("log4j-1.2-api-2.17.1" → "log4j-1.2-api", "2.17.1"). version is "" when
// no segment after the first begins with a digit.
func javaSplitFileName(base string) (name, version string) {
	segs := strings.Split(base, "-")
	k := -1
	for i := 1; i < len(segs); i++ {
		if segs[i] != "" && segs[i][0] >= '0' && segs[i][0] <= '9' {
			k = i
			break
		}
	}
	if k < 0 {
		return base, ""
	}
	for j := k + 1; j < len(segs); j++ {
		w := segs[j-1]
		if segs[j] != "" && segs[j][0] >= '0' && segs[j][0] <= '9' &&
			javaAlphaWord(w) && !javaVersionQualifiers[strings.ToLower(w)] {
			k = j
		}
	}
	return strings.Join(segs[:k], "-"), strings.Join(segs[k:], "-")
}

func javaAlphaWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// javaVersionQualifiers are words that continue a version ("1.0-rc-2").
var javaVersionQualifiers = map[string]bool{
	"a": true, "alpha": true, "b": true, "beta": true, "rc": true, "cr": true,
	"m": true, "milestone": true, "snapshot": true, "final": true, "release": true,
	"ga": true, "sp": true, "patch": true, "build": true, "pre": true,
	"preview": true, "incubating": true, "dev": true, "r": true, "jre": true,
	"android": true, "jdk": true, "ea": true, "u": true, "update": true,
}
