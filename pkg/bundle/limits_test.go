package bundle

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimits hits each named limit of the reader once, just past the line.
func TestLimits(t *testing.T) {
	t.Parallel()
	data, _, _ := testBundle(t)
	m, members := payloadMembers(t, data)
	mb := mustMarshal(t, m)

	sigs := func(n, size int) []byte {
		var ms []rawMember
		for i := range n {
			ms = append(ms, rawMember{SignatureMember(i), bytes.Repeat([]byte("s"), size)})
		}
		return assemble(t, mb, append(ms, members...))
	}
	fileEntries := func(n int) *Manifest {
		c := *m
		c.Files = nil
		for i := range n {
			c.Files = append(c.Files, File{Component: m.Components[0].Name, Op: OpDelete, Path: fmt.Sprintf("d/%08d", i),
				Base: &Node{Type: TypeDir, Mode: "0755"}})
		}
		return &c
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"signatures at the limit", readAll(sigs(maxSignatures, 10)), ""},
		{"one signature too many", readAll(sigs(maxSignatures+1, 10)), "more than 32 signatures"},
		{"signature too large", readAll(sigs(1, maxSignatureSize+1)), "signature is 262145 bytes"},
		{"empty signature", readAll(sigs(1, 0)), "signature is 0 bytes"},
		{"manifest too large", readAll(hugeManifestHeader(t)), "more than the limit of 16777216"},
		{"files at the limit", fileEntries(maxFiles).Validate(), ""},
		{"one file too many", fileEntries(maxFiles + 1).Validate(), "100001 files, more than the limit"},
		{"path at the limit", CheckPath(strings.Repeat("a", maxPathLen)), ""},
		{"path too long", CheckPath(strings.Repeat("a", maxPathLen+1)), "longer than 4096"},
		{"path too deep", CheckPath(strings.Repeat("a/", maxPathDepth) + "a"), "deeper than 64"},
		{"decompressed size", readAll(bomb(t, m)), "more bytes than the manifest declares"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

// TestReadRegular checks that Create's read of a file holds exactly the size it hashed:
// a file that grew or shrank since is an error, not a longer or shorter content.
func TestReadRegular(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	content := bytes.Repeat([]byte("patchkit"), 1000)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readRegular(p, int64(len(content)))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("same size: %v", err)
	}
	for _, size := range []int64{0, int64(len(content)) - 1, int64(len(content)) + 1} {
		if _, err := readRegular(p, size); err == nil || !strings.Contains(err.Error(), "changed while") {
			t.Errorf("file of %d bytes read as %d: error %v", len(content), size, err)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readRegular(empty, 0); err != nil || len(got) != 0 {
		t.Errorf("empty file: %q, %v", got, err)
	}
}
