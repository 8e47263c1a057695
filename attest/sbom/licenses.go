package sbom

import (
	"strings"
)

// SPDX documents must state licenses as SPDX expressions, but package
// metadata uses whatever its ecosystem does: Debian short names ("GPL-2+",
// "Expat"), Fedora's ("GPLv2+"), or SPDX proper (Alpine, newer RPMs). This
// file normalises what it recognises and turns the rest into LicenseRef-
// identifiers whose text is carried in the document.

// spdxIDs are SPDX license list identifiers common in OS and language
// packages, keyed by lower case. Anything else is kept as a LicenseRef.
var spdxIDs = func() map[string]string {
	ids := []string{
		"0BSD", "AFL-2.1", "AFL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.0", "Apache-1.1", "Apache-2.0",
		"APSL-2.0", "Artistic-1.0", "Artistic-1.0-Perl", "Artistic-2.0", "Beerware", "BSD-1-Clause", "BSD-2-Clause",
		"BSD-2-Clause-Patent", "BSD-3-Clause", "BSD-3-Clause-Clear", "BSD-4-Clause", "BSD-Source-Code", "BSL-1.0",
		"bzip2-1.0.6", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "CDDL-1.1",
		"copyleft-next-0.3.1", "curl", "EPL-1.0", "EPL-2.0", "EUPL-1.1", "EUPL-1.2", "FSFAP", "FSFUL", "FSFULLR",
		"FTL", "GFDL-1.1-only", "GFDL-1.1-or-later", "GFDL-1.2-only", "GFDL-1.2-or-later", "GFDL-1.3-only",
		"GFDL-1.3-or-later", "GPL-1.0-only", "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only",
		"GPL-3.0-or-later", "GPL-1.0", "GPL-2.0", "GPL-3.0", "LGPL-2.0", "LGPL-2.1", "LGPL-3.0", "AGPL-3.0",
		"HPND", "ICU", "IJG", "Info-ZIP", "IPA", "ISC", "JSON", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only",
		"LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "Libpng", "libpng-2.0", "libtiff", "LPPL-1.3c",
		"MIT", "MIT-0", "MIT-CMU", "MPL-1.0", "MPL-1.1", "MPL-2.0", "MS-PL", "MS-RL", "NCSA", "NTP", "OFL-1.1",
		"OLDAP-2.8", "OpenSSL", "PHP-3.0", "PHP-3.01", "PostgreSQL", "PSF-2.0", "Python-2.0", "Ruby", "Sleepycat",
		"SSPL-1.0", "TCL", "Unicode-3.0", "Unicode-DFS-2015", "Unicode-DFS-2016", "Unlicense", "UPL-1.0", "Vim",
		"W3C", "WTFPL", "X11", "XFree86-1.1", "Zlib", "zlib-acknowledgement", "ZPL-2.0", "ZPL-2.1",
	}
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[strings.ToLower(id)] = id
	}
	return m
}()

// spdxExceptions are license exceptions that may follow WITH.
var spdxExceptions = func() map[string]string {
	ids := []string{
		"Autoconf-exception-2.0", "Autoconf-exception-3.0", "Bison-exception-2.2", "Classpath-exception-2.0",
		"GCC-exception-2.0", "GCC-exception-3.1", "Linux-syscall-note", "LLVM-exception", "OpenSSL-exception",
		"Font-exception-2.0", "Qt-LGPL-exception-1.1",
	}
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[strings.ToLower(id)] = id
	}
	return m
}()

// debianNames maps Debian copyright-format short names (and a few common
// spellings from rpm spec files) to SPDX identifiers.
var debianNames = map[string]string{
	"gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later",
	"gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later",
	"gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
	"lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later",
	"lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
	"lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later",
	"agpl-3": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later",
	"gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later",
	"gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later",
	"gplv2": "GPL-2.0-only", "gplv2+": "GPL-2.0-or-later",
	"gplv3": "GPL-3.0-only", "gplv3+": "GPL-3.0-or-later",
	"lgplv2": "LGPL-2.0-only", "lgplv2+": "LGPL-2.0-or-later",
	"lgplv3": "LGPL-3.0-only", "lgplv3+": "LGPL-3.0-or-later",
	"expat": "MIT", "artistic": "Artistic-1.0", "apache-2": "Apache-2.0",
	"asl 2.0": "Apache-2.0", "bsd": "BSD-3-Clause", "zlib": "Zlib",
	"mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "public-domain": "",
}

// spdxLicense is one license of a package as SPDX wants it: an expression
// over known identifiers, or a LicenseRef with the original text.
type spdxLicense struct {
	Expr string
	// Ref and Text are set when Expr is a LicenseRef- made for free text.
	Ref, Text string
	// ID is set when the license is exactly one listed identifier.
	ID string
}

func normalizeLicense(s string) spdxLicense {
	s = strings.TrimSpace(s)
	if e, ok := normalizeExpr(s); ok {
		l := spdxLicense{Expr: e}
		if _, known := spdxIDs[strings.ToLower(e)]; known {
			l.ID = e
		}
		return l
	}
	ref := licenseRef(s)
	return spdxLicense{Expr: ref, Ref: ref, Text: s}
}

// normalizeExpr rewrites s as an SPDX expression if every identifier in it
// is known or mappable; operators may be in any case.
func normalizeExpr(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if id, ok := debianNames[strings.ToLower(s)]; ok {
		return id, id != ""
	}
	toks := tokenizeExpr(s)
	out := make([]string, 0, len(toks))
	afterWith := false
	operands := 0
	for _, t := range toks {
		switch up := strings.ToUpper(t); {
		case t == "(" || t == ")":
			out = append(out, t)
		case up == "AND" || up == "OR":
			out = append(out, up)
		case up == "WITH":
			out = append(out, up)
			afterWith = true
			continue
		case afterWith:
			ex, ok := spdxExceptions[strings.ToLower(t)]
			if !ok {
				return "", false
			}
			out = append(out, ex)
		default:
			id, ok := licenseID(t)
			if !ok {
				return "", false
			}
			out = append(out, id)
			operands++
		}
		afterWith = false
	}
	if operands == 0 {
		return "", false
	}
	return strings.ReplaceAll(strings.ReplaceAll(strings.Join(out, " "), "( ", "("), " )", ")"), true
}

func licenseID(t string) (string, bool) {
	l := strings.ToLower(t)
	if id, ok := spdxIDs[l]; ok {
		return id, true
	}
	if id, ok := debianNames[l]; ok && id != "" {
		return id, true
	}
	if base, ok := strings.CutSuffix(l, "+"); ok {
		if id, ok := spdxIDs[base]; ok {
			return id + "+", true
		}
	}
	if strings.HasPrefix(t, "LicenseRef-") && validIDString(t) {
		return t, true
	}
	return "", false
}

func tokenizeExpr(s string) []string {
	var toks []string
	for _, f := range strings.Fields(s) {
		for f != "" {
			switch {
			case f[0] == '(' || f[0] == ')':
				toks = append(toks, f[:1])
				f = f[1:]
			default:
				i := strings.IndexAny(f, "()")
				if i < 0 {
					i = len(f)
				}
				toks = append(toks, f[:i])
				f = f[i:]
			}
		}
	}
	return toks
}

func validIDString(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// licenseRef makes the LicenseRef- identifier for free license text.
func licenseRef(s string) string {
	var b strings.Builder
	b.WriteString("LicenseRef-")
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else if r == '+' {
			b.WriteString("-plus")
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}
