package catalog

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// OSRelease is what an image's os-release file says about its distribution
// (https://www.freedesktop.org/software/systemd/man/os-release.html).
type OSRelease struct {
	ID              string   `json:"id"`
	IDLike          []string `json:"idLike,omitempty"`
	VersionID       string   `json:"versionId,omitempty"`
	VersionCodename string   `json:"versionCodename,omitempty"`
	Name            string   `json:"name,omitempty"`
	PrettyName      string   `json:"prettyName,omitempty"`
}

// maxOSRelease bounds how much of an os-release file is read: real ones are
// well under 1 KiB, so anything longer is not worth buffering.
const maxOSRelease = 64 << 10

// IsOSReleasePath reports whether p is one of the two places os-release(5)
// names. The walker reads these itself (they declare no package), so
// etc/os-release wins over usr/lib/os-release as the spec says.
func IsOSReleasePath(p string) bool {
	return p == "etc/os-release" || p == "usr/lib/os-release"
}

// ParseOSRelease reads an os-release file. A file without an ID is not an
// os-release file as far as package URLs are concerned and is an error.
func ParseOSRelease(r io.Reader) (OSRelease, error) {
	var o OSRelease
	sc := bufio.NewScanner(io.LimitReader(r, maxOSRelease))
	sc.Buffer(make([]byte, 0, 4096), maxOSRelease)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = unquoteOSRelease(strings.TrimSpace(v))
		switch strings.TrimSpace(k) {
		case "ID":
			o.ID = strings.ToLower(v)
		case "ID_LIKE":
			o.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			o.VersionID = v
		case "VERSION_CODENAME":
			o.VersionCodename = v
		case "NAME":
			o.Name = v
		case "PRETTY_NAME":
			o.PrettyName = v
		}
	}
	if err := sc.Err(); err != nil {
		return o, fmt.Errorf("reading os-release: %w", err)
	}
	if o.ID == "" {
		return o, fmt.Errorf("os-release has no ID")
	}
	return o, nil
}

// unquoteOSRelease undoes the shell-style quoting os-release values may use.
func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}

// Distro is the purl "distro" qualifier value for this OS, as syft and
// trivy write it ("debian-12", "alpine-3.19.1", "rhel-9.3"), or "" when the
// file names no version.
func (o OSRelease) Distro() string {
	switch {
	case o.ID == "":
		return ""
	case o.VersionID != "":
		return o.ID + "-" + o.VersionID
	case o.VersionCodename != "":
		return o.ID + "-" + o.VersionCodename
	}
	return ""
}

// purlNamespace is the purl namespace for an OS package type on this OS:
// the distribution, with Red Hat's purl vendor name for RHEL.
func (o OSRelease) purlNamespace() string {
	if o.ID == "rhel" {
		return "redhat"
	}
	return o.ID
}

// Qualify rewrites the purl of an OS package (deb, apk, rpm) for the OS the
// image declares: the namespace becomes the distribution and a distro
// qualifier is added. Catalogers cannot do this themselves because they see
// one file at a time and os-release may come from another layer; the walker
// calls this once the squashed view is known. Other packages are returned
// unchanged.
func (o OSRelease) Qualify(p Package) Package {
	if o.ID == "" || (p.Type != "deb" && p.Type != "apk" && p.Type != "rpm") {
		return p
	}
	pu, err := parsePURL(p.PURL)
	if err != nil {
		return p
	}
	pu.namespace = o.purlNamespace()
	if d := o.Distro(); d != "" {
		pu.set("distro", d)
	}
	p.PURL = pu.String()
	return p
}

// purl is the small subset of package URLs OS catalogers build: a type, one
// namespace segment, a name, a version and qualifiers.
type purl struct {
	typ, namespace, name, version string
	qualifiers                    [][2]string
}

func (p *purl) set(k, v string) {
	for i := range p.qualifiers {
		if p.qualifiers[i][0] == k {
			p.qualifiers[i][1] = v
			return
		}
	}
	p.qualifiers = append(p.qualifiers, [2]string{k, v})
}

// String renders the purl canonically: qualifiers sorted by key, empty ones
// dropped. Name and version are escaped like packageurl-go does (path
// escaping) so that purls compare equal with syft's and trivy's.
func (p purl) String() string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(p.typ)
	b.WriteByte('/')
	if p.namespace != "" {
		b.WriteString(url.PathEscape(p.namespace))
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(p.name))
	if p.version != "" {
		b.WriteByte('@')
		b.WriteString(url.PathEscape(p.version))
	}
	qs := make([][2]string, 0, len(p.qualifiers))
	for _, q := range p.qualifiers {
		if q[1] != "" {
			qs = append(qs, q)
		}
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i][0] < qs[j][0] })
	for i, q := range qs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(q[0])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(q[1]))
	}
	return b.String()
}

// parsePURL parses purls of the shape String writes.
func parsePURL(s string) (purl, error) {
	var p purl
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return p, fmt.Errorf("purl %q: missing pkg: scheme", s)
	}
	rest, query, _ := strings.Cut(rest, "?")
	typ, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return p, fmt.Errorf("purl %q: missing name", s)
	}
	p.typ = typ
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		v, err := url.PathUnescape(rest[i+1:])
		if err != nil {
			return p, fmt.Errorf("purl %q: version: %w", s, err)
		}
		p.version, rest = v, rest[:i]
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		ns, err := url.PathUnescape(rest[:i])
		if err != nil {
			return p, fmt.Errorf("purl %q: namespace: %w", s, err)
		}
		p.namespace, rest = ns, rest[i+1:]
	}
	n, err := url.PathUnescape(rest)
	if err != nil {
		return p, fmt.Errorf("purl %q: name: %w", s, err)
	}
	p.name = n
	if query != "" {
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			uv, err := url.QueryUnescape(v)
			if err != nil {
				return p, fmt.Errorf("purl %q: qualifier %s: %w", s, k, err)
			}
			p.qualifiers = append(p.qualifiers, [2]string{k, uv})
		}
	}
	return p, nil
}

// OSPackages returns the catalogers for OS package databases: dpkg, apk and
// rpm. os-release is read by the walker itself.
func OSPackages() []Cataloger {
	return []Cataloger{Dpkg(), APK(), RPM()}
}
