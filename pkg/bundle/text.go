package bundle

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// unsafeRune reports whether r must not appear in a path, link text or label: C0 and C1
// controls, DEL, and the bidirectional embedding, override and isolate controls (which
// make a terminal show "gpj.exe" for "exe.jpg").
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return r == utf8.RuneError
}

// checkSafeText refuses invalid UTF-8 and [unsafeRune]s in s; what names the field.
func checkSafeText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if unsafeRune(r) {
			return fmt.Errorf("%s %q contains a control or bidirectional-override character (U+%04X)", what, s, r)
		}
	}
	return nil
}

// Escape returns s with every control or bidirectional-override character, and every
// invalid byte, written as a Go escape (\x1b, \u202e), so text from a bundle can be
// printed to a terminal as it is.
func Escape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
			b.WriteRune(r)
		case r == '\\':
			b.WriteString(`\\`)
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// LinkLeavesRoot reports whether a symlink at p (a manifest path) with text link points
// outside the install root: absolute, or climbing above the root when resolved
// lexically from the link's directory. Such links are valid bundle content (real OS
// trees have them: /etc/alternatives, firefox-esr's defaults/syspref -> /etc/firefox-esr)
// and are never followed when writing; readers show them so a reviewer sees them.
func LinkLeavesRoot(p, link string) bool {
	if strings.HasPrefix(link, "/") {
		return true
	}
	depth := strings.Count(p, "/")
	for _, c := range strings.Split(link, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// Describe returns f's path for display, escaped ([Escape]); for a symlink target it adds
// " -> TEXT", and "(outside the root)" when [LinkLeavesRoot].
func (f *File) Describe() string {
	s := Escape(f.Path)
	if t := f.Target; t != nil && t.Type == TypeSymlink {
		s += " -> " + Escape(t.Link)
		if LinkLeavesRoot(f.Path, t.Link) {
			s += " (outside the root)"
		}
	}
	return s
}

// underSymlink returns the nearest parent of p that is in links, or "".
func underSymlink(p string, links map[string]bool) string {
	for q := path.Dir(p); q != "."; q = path.Dir(q) {
		if links[q] {
			return q
		}
	}
	return ""
}
