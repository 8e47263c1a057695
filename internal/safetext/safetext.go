// Package safetext makes strings imgsign did not write safe to print on a
// terminal. Annotations, key hints, tag names, predicate values and registry
// error bodies are unsigned: printed raw, a newline starts a line that reads
// like a verdict and an ANSI escape moves the cursor over the real one. Every
// text renderer prints such strings through Clean (or Fprintf, which cleans
// its arguments); JSON output goes through JSON.
package safetext

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean returns s with every rune that is not printable replaced by its Go
// escape (\n, \t, \x1b, \u202e, \xff for a byte that is not UTF-8), so the
// result is one line that shows what was there and does nothing to the
// terminal. Printable text, including non-ASCII letters and symbols, is
// kept as it is.
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			// QuoteRune gives 'x' with Go's escape inside.
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Quote returns s unchanged when it is printable, else s Go-quoted: for
// names, where the quotes make clear that the escapes are part of the name.
func Quote(s string) string {
	if isClean(s) {
		return s
	}
	return strconv.Quote(s)
}

func isClean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !unicode.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// Fprintf is fmt.Fprintf with every string, error and fmt.Stringer argument
// cleaned: the format is the caller's own text (its newlines and tabs are
// kept), the arguments are not. Other arguments (numbers, byte slices) are
// formatted as they are.
func Fprintf(w io.Writer, format string, args ...any) (int, error) {
	return fmt.Fprintf(w, format, cleanArgs(args)...)
}

// Sprintf is Fprintf into a string.
func Sprintf(format string, args ...any) string {
	return fmt.Sprintf(format, cleanArgs(args)...)
}

func cleanArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = Clean(v)
		case error:
			out[i] = Clean(v.Error())
		case fmt.Stringer:
			out[i] = Clean(v.String())
		case []string:
			c := make([]string, len(v))
			for j, s := range v {
				c[j] = Clean(s)
			}
			out[i] = c
		default:
			// A named string type (a media type, a mode) is a string too.
			if v := reflect.ValueOf(a); v.Kind() == reflect.String {
				out[i] = Clean(v.String())
			} else {
				out[i] = a
			}
		}
	}
	return out
}

// JSON escapes, inside an encoding/json document, the runes encoding/json
// leaves raw but a terminal acts on or hides: DEL, C1 controls (U+0080 to
// U+009F, which include the 8-bit CSI), and format characters such as the
// bidirectional overrides. encoding/json already escapes C0 controls and
// writes invalid UTF-8 as U+FFFD; outside strings a JSON document holds
// only printable ASCII and whitespace, so every rune replaced here is inside
// a string and its \uXXXX escape means the same value.
func JSON(doc []byte) []byte {
	if !needsJSONEscape(doc) {
		return doc
	}
	var b bytes.Buffer
	b.Grow(len(doc) + 16)
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r != utf8.RuneError && jsonUnsafe(r) {
			if r > 0xFFFF {
				r1, r2 := utf16Pair(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		} else {
			b.Write(doc[i : i+n])
		}
		i += n
	}
	return b.Bytes()
}

func needsJSONEscape(doc []byte) bool {
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r != utf8.RuneError && jsonUnsafe(r) {
			return true
		}
		i += n
	}
	return false
}

// jsonUnsafe: not printable, and not the whitespace JSON's own layout uses
// (C0 controls inside strings are already escaped by encoding/json).
func jsonUnsafe(r rune) bool {
	if r < 0x80 {
		return r == 0x7f
	}
	return !unicode.IsPrint(r)
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}
