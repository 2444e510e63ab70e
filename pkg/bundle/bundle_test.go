package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files below dir: name → content; a content starting with "->" makes
// a symlink, a name ending in "/" a directory.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if link, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(link, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	testBase = map[string]string{
		"lib/libfoo.so.1.0": strings.Repeat("old library code ", 200),
		"lib/libfoo.so.1":   "->libfoo.so.1.0",
		"lib/data.txt":      "old data",
		"lib/gone.txt":      "to be deleted",
		"bin/tool":          "#!/bin/sh\necho tool\n",
		"lib/big.so":        bigFile(0),
	}
	testTarget = map[string]string{
		"lib/libfoo.so.1.1": strings.Repeat("new library code ", 200),
		"lib/libfoo.so.1":   "->libfoo.so.1.1",
		"lib/data.txt":      "new data, longer than before",
		"bin/tool":          "#!/bin/sh\necho tool\n",
		"share/doc/readme":  "hello",
		"share/empty/":      "",
		"lib/big.so":        bigFile(1),
	}
)

// bigFile is pseudo-random content (so compression cannot beat a delta) with a small
// edit that depends on version.
func bigFile(version int) string {
	b := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	copy(b[30000:], fmt.Sprintf("version %d of the bounds check", version))
	return string(b)
}

// testBundle makes a small bundle exercising every op and returns its bytes and trees.
func testBundle(t testing.TB) (data []byte, base, target string) {
	t.Helper()
	dir := t.TempDir()
	base, target = filepath.Join(dir, "base"), filepath.Join(dir, "target")
	writeTree(t, base, testBase)
	writeTree(t, target, testTarget)
	if err := os.Chmod(filepath.Join(target, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := Create(context.Background(), &buf, &CreateOptions{
		Label: "1.1 (a)", Sequence: 3, Advisories: []string{"CVE-2026-1234"},
		Components: []Source{{Name: "foo", BaseVersion: "1.0", BaseDir: base, TargetDir: target}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), base, target
}

// readAll reads a whole bundle the way extract does, decoding every full payload.
func readAll(data []byte) error {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.File.Payload.Codec == CodecZstd {
			err = e.Decode(io.Discard, nil)
		} else {
			_, err = io.Copy(io.Discard, e)
		}
		if err != nil {
			return err
		}
	}
}

func TestCreateOps(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Op{}
	for _, f := range r.Manifest().Files {
		got[f.Path] = f.Op
	}
	want := map[string]Op{
		"bin/tool":          OpMode,
		"lib/data.txt":      OpReplace,
		"lib/big.so":        OpPatch,
		"lib/gone.txt":      OpDelete,
		"lib/libfoo.so.1":   OpLink,
		"lib/libfoo.so.1.0": OpDelete,
		"lib/libfoo.so.1.1": OpAdd,
		"share":             OpAdd,
		"share/doc":         OpAdd,
		"share/doc/readme":  OpAdd,
		"share/empty":       OpAdd,
	}
	if len(got) != len(want) {
		t.Errorf("got %d paths %v, want %d", len(got), got, len(want))
	}
	for p, op := range want {
		if got[p] != op {
			t.Errorf("%s: op %q, want %q", p, got[p], op)
		}
	}
	if err := readAll(data); err != nil {
		t.Fatal(err)
	}
}

func TestReproducible(t *testing.T) {
	t.Parallel()
	a, _, _ := testBundle(t)
	b, _, _ := testBundle(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two bundles from the same trees differ")
	}
}

func TestExtractRoundTrip(t *testing.T) {
	t.Parallel()
	data, base, target := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := Extract(context.Background(), r, out, &ExtractOptions{BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 2 || res.Files != 5 || res.Symlinks != 1 {
		t.Errorf("result %+v", res)
	}
	for name, content := range testTarget {
		p := filepath.Join(out, name)
		if link, ok := strings.CutPrefix(content, "->"); ok {
			if got, err := os.Readlink(p); err != nil || got != link {
				t.Errorf("%s: link %q, %v", name, got, err)
			}
			continue
		}
		if strings.HasSuffix(name, "/") {
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				t.Errorf("%s: not a directory: %v", name, err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "bin/tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool mode: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(target, "lib/gone.txt")); !os.IsNotExist(err) {
		t.Error("deleted file exists in the target tree")
	}
}

func TestExtractNeedsMatchingBase(t *testing.T) {
	t.Parallel()
	data, base, _ := testBundle(t)
	if err := os.WriteFile(filepath.Join(base, "lib/data.txt"), []byte("local edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err = Extract(context.Background(), r, out, &ExtractOptions{BaseDir: base})
	var be *BaseError
	if !errors.As(err, &be) || be.Path != "lib/data.txt" {
		t.Fatalf("got %v, want a base mismatch at lib/data.txt", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("output directory exists after a failed extract")
	}
}

// TestEveryByteFlipFails flips each byte outside the manifest's own data (which
// signatures protect) and checks that reading fails with an error naming a member.
func TestEveryByteFlipFails(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mStart, mEnd := blockSize, blockSize+len(r.ManifestBytes())
	for i := range data {
		if i >= mStart && i < mEnd {
			continue
		}
		for _, x := range []byte{0x01, 0x80} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			err := readAll(bad)
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("flip 0x%02x at %d: got %v, want a bundle error", x, i, err)
			}
		}
	}
}

func TestTruncateAndAppendFail(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	for n := 0; n < len(data); n += 37 {
		if err := readAll(data[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	for _, tail := range [][]byte{{0}, make([]byte, 512), []byte("x")} {
		err := readAll(append(bytes.Clone(data), tail...))
		if err == nil || !strings.Contains(err.Error(), "trailing data") {
			t.Fatalf("appended %d bytes: got %v", len(tail), err)
		}
	}
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"usr/lib/libssl.so.3", true},
		{"a", true},
		{"", false},
		{"/etc/passwd", false},
		{"a/../b", false},
		{"..", false},
		{"a/./b", false},
		{"a//b", false},
		{"a/", false},
		{`a\b`, false},
		{"a/\x00", false},
		{"a/\nb", false},
		{strings.Repeat("a/", 70) + "b", false},
	} {
		if err := CheckPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestLinkLeavesRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, link string
		leaves     bool
	}{
		{"usr/lib/libfoo.so", "libfoo.so.1", false},
		{"usr/lib/libfoo.so", "../share/x", false},
		{"usr/lib/libfoo.so", "../../x", false},
		{"usr/lib/libfoo.so", "../../../x", true},
		{"a", "/etc/passwd", true},
		{"a", "..", true},
		{"a/b", "c/../../..", true},
	} {
		if got := LinkLeavesRoot(tc.path, tc.link); got != tc.leaves {
			t.Errorf("LinkLeavesRoot(%q, %q) = %v, want %v", tc.path, tc.link, got, tc.leaves)
		}
	}
}

// The firefox-esr case (issue 13 item 6): a tree with an absolute link is bundled; an
// unchanged link is not bundle content, a changed one is stored as its signed text.
func TestCreateKeepsOutwardLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, tg := filepath.Join(dir, "b"), filepath.Join(dir, "t")
	writeTree(t, b, map[string]string{"x": "1", "usr/share/firefox-esr/browser/defaults/syspref": "->/etc/firefox-esr", "up": "->../../../etc"})
	writeTree(t, tg, map[string]string{"x": "2", "usr/share/firefox-esr/browser/defaults/syspref": "->/etc/firefox-esr", "up": "->../../../etc/x"})
	var buf bytes.Buffer
	m, err := Create(context.Background(), &buf, &CreateOptions{
		Label: "x", Components: []Source{{Name: "foo", BaseVersion: "1", BaseDir: b, TargetDir: tg}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path+":"+string(f.Op))
	}
	if got := strings.Join(paths, " "); got != "up:symlink x:replace" {
		t.Fatalf("files %s", got)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if got := r.Manifest().Files[0].Describe(); got != "up -> ../../../etc/x (outside the root)" {
		t.Fatalf("Describe: %q", got)
	}
}

// A path below a symlink (a link used as a path to write through) is refused, and text
// with controls or bidi overrides is refused at create and escaped for display.
func TestManifestRefusesPathsBelowLinksAndUnsafeText(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	base := *r.Manifest()
	mk := func(mod func(m *Manifest)) error {
		m := base
		m.Files = append([]File(nil), base.Files...)
		mod(&m)
		return m.Validate()
	}
	link := File{Component: base.Files[0].Component, Op: OpAdd, Path: "evil", Target: &Node{Type: TypeSymlink, Link: "/etc"}}
	err = mk(func(m *Manifest) {
		f := File{Component: link.Component, Op: OpAdd, Path: "evil/shadow", Target: &Node{Type: TypeSymlink, Link: "x"}}
		m.Files = []File{link, f}
	})
	if err == nil || !strings.Contains(err.Error(), "evil/shadow lies below evil, a symlink") {
		t.Fatalf("path below a link: %v", err)
	}
	for _, tc := range []struct {
		mod  func(m *Manifest)
		want string
	}{
		{func(m *Manifest) { m.Label = "3.0 \u202egpj.exe" }, `label "3.0 \u202egpj.exe" contains a control or bidirectional-override character (U+202E)`},
		{func(m *Manifest) { m.Label = "a\u009bb" }, "(U+009B)"},
		{func(m *Manifest) {
			m.Files = []File{{Component: link.Component, Op: OpAdd, Path: "a\u2066b", Target: link.Target}}
		}, "path"},
		{func(m *Manifest) {
			m.Files = []File{{Component: link.Component, Op: OpAdd, Path: "a", Target: &Node{Type: TypeSymlink, Link: "x\x1b[2J"}}}
		}, "symlink text"},
	} {
		if err := mk(tc.mod); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if got := Escape("a\x1b[2J\u202e\xff\\b"); got != `a\x1b[2J\u202e\xff\\b` {
		t.Fatalf("Escape: %s", got)
	}
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "b"), map[string]string{"x": "1"})
	writeTree(t, filepath.Join(dir, "t"), map[string]string{"x": "2", "bad\u202ename": "y"})
	_, err = Create(context.Background(), io.Discard, &CreateOptions{
		Label: "x", Components: []Source{{Name: "foo", BaseVersion: "1", BaseDir: filepath.Join(dir, "b"), TargetDir: filepath.Join(dir, "t")}},
	})
	if err == nil || !strings.Contains(err.Error(), "bidirectional-override") {
		t.Fatalf("create with a bidi path: %v", err)
	}
}

func TestManifestCanonical(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mb := r.ManifestBytes()
	again, err := r.Manifest().Marshal()
	if err != nil || !bytes.Equal(again, mb) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	for name, bad := range map[string][]byte{
		"white space":   append([]byte(" "), mb...),
		"trailing":      append(bytes.Clone(mb), '\n'),
		"unknown field": bytes.Replace(mb, []byte(`{"advisories"`), []byte(`{"zzz":1,"advisories"`), 1),
		"duplicate key": bytes.Replace(mb, []byte(`"format":`), []byte(`"id":"x","format":`), 1),
		"escaped":       bytes.Replace(mb, []byte(`"label":"1.1 (a)"`), []byte(`"label":"1.1 \u0028a)"`), 1),
	} {
		if bytes.Equal(bad, mb) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := ParseManifest(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
