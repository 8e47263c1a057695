package refname

import "strings"

// maxTagLen is the distribution specification's bound on a tag.
const maxTagLen = 128

// ValidTag reports whether t is a tag as the OCI distribution specification
// defines it ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}). Written out rather than as
// a regexp: the bounded repetition compiles to a large program, and every
// start of imgsign would pay for it.
func ValidTag(t string) bool {
	if t == "" || len(t) > maxTagLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// SHA256Hex reports whether s is a SHA-256 digest's hex: 64 lower-case
// hex digits, the only spelling registries and layouts name blobs by.
func SHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AttachedTo reads a tag naming what is attached to sha256:<hex>: the
// referrers tag schema's "sha256-<hex>", cosign's legacy
// "sha256-<hex>.sig" (.att, .sbom) and imgsign's per-referrer
// "sha256-<hex>.ref-…". It returns <hex>, and ok false for any other tag.
func AttachedTo(tag string) (hex string, ok bool) {
	rest, found := strings.CutPrefix(tag, "sha256-")
	if !found || len(rest) < 64 || !SHA256Hex(rest[:64]) || (len(rest) > 64 && rest[64] != '.') {
		return "", false
	}
	return rest[:64], true
}
