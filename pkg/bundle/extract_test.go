package bundle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zerosBundle is an unsigned bundle adding one file of n zero bytes: tiny, with a large
// declared output, as a decompression bomb's manifest would declare.
func zerosBundle(t *testing.T, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "b"), map[string]string{"keep": "k"})
	writeTree(t, filepath.Join(dir, "t"), map[string]string{"keep": "k", "zeros": string(make([]byte, n))})
	var buf bytes.Buffer
	if _, err := Create(context.Background(), &buf, &CreateOptions{Label: "z",
		Components: []Source{{Name: "foo", BaseVersion: "1", BaseDir: filepath.Join(dir, "b"), TargetDir: filepath.Join(dir, "t")}}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Unauthenticated extract is bounded (issue 13 item 8): the declared output must fit
// --max-size (by default a small multiple of the bundle and base sizes), and a damaged
// payload is found by its digest before a byte of it is decoded.
func TestExtractUnauthenticatedBounded(t *testing.T) {
	t.Parallel()
	data := zerosBundle(t, 4<<20)
	extract := func(data []byte, o *ExtractOptions) error {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		_, err = Extract(context.Background(), r, out, o)
		if _, serr := os.Lstat(out); err != nil && !os.IsNotExist(serr) {
			t.Errorf("a failed extract left %s", out)
		}
		return err
	}
	size := int64(len(data))
	err := extract(data, &ExtractOptions{Unauthenticated: true, BundleSize: size})
	want := "declared output too large for an unauthenticated bundle: the manifest declares 4194304 bytes of output, more than the default limit"
	if !errors.Is(err, ErrOutputTooLarge) || !strings.Contains(err.Error(), want) {
		t.Fatalf("default limit: %v", err)
	}
	if err := extract(data, &ExtractOptions{Unauthenticated: true, BundleSize: size, MaxSize: 4 << 20}); err != nil {
		t.Fatalf("--max-size 4MiB: %v", err)
	}
	if err := extract(data, &ExtractOptions{Unauthenticated: true, BundleSize: size, MaxSize: 1 << 20}); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("--max-size 1MiB: %v", err)
	}
	if err := extract(data, &ExtractOptions{}); err != nil {
		t.Fatalf("authenticated: %v", err)
	}
	// A flipped payload byte: the stored digest fails before decoding starts, so the
	// error is the digest, not whatever the decoder makes of the damage.
	m, members := payloadMembers(t, data)
	members[0].data = bytes.Clone(members[0].data)
	members[0].data[len(members[0].data)/2] ^= 0xff
	bad := assemble(t, mustMarshal(t, m), members)
	err = extract(bad, &ExtractOptions{Unauthenticated: true, BundleSize: size, MaxSize: 8 << 20})
	if err == nil || !strings.Contains(err.Error(), "payload digest mismatch") {
		t.Fatalf("damaged payload: %v", err)
	}
}

// Extract never follows a link (issue 13 item 6): outward link text is written as
// data, a base file reached through a parent link that leaves the base tree is
// refused, and nothing outside the output is created.
func TestExtractNeverFollowsLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, tg, outside := filepath.Join(dir, "b"), filepath.Join(dir, "t"), filepath.Join(dir, "outside")
	writeTree(t, b, map[string]string{"lib/a.txt": "old", "etc/syspref": "->/etc/firefox-esr"})
	writeTree(t, tg, map[string]string{"lib/a.txt": "new", "etc/syspref": "->/etc/firefox-esr", "up": "->../outside"})
	var buf bytes.Buffer
	if _, err := Create(context.Background(), &buf, &CreateOptions{Label: "l", NoDelta: false,
		Components: []Source{{Name: "foo", BaseVersion: "1", BaseDir: b, TargetDir: tg}}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r, _ := NewReader(bytes.NewReader(buf.Bytes()))
	if _, err := Extract(context.Background(), r, out, &ExtractOptions{BaseDir: b}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(out, "up")); err != nil || got != "../outside" {
		t.Fatalf("link text: %q %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(out, "etc/syspref")); !os.IsNotExist(err) {
		t.Fatal("an unchanged link was extracted as content")
	}
	if _, err := os.Lstat(outside); !os.IsNotExist(err) {
		t.Fatal("something was created outside the output")
	}
	// A base tree whose lib/ is a link out of it: the base file is never opened through it.
	b2 := filepath.Join(dir, "b2")
	writeTree(t, b2, map[string]string{"etc/syspref": "->/etc/firefox-esr"})
	writeTree(t, outside, map[string]string{"lib/a.txt": "old"})
	if err := os.Symlink(filepath.Join(outside, "lib"), filepath.Join(b2, "lib")); err != nil {
		t.Fatal(err)
	}
	r, _ = NewReader(bytes.NewReader(buf.Bytes()))
	_, err := Extract(context.Background(), r, filepath.Join(dir, "out2"), &ExtractOptions{BaseDir: b2})
	if err == nil || !strings.Contains(err.Error(), "base mismatch at lib/a.txt") || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("base through an outward parent link: %v", err)
	}
}
