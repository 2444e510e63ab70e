package vectorgen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

const committed = "../../testdata/vectors"

// TestGeneratedVectorsAreCommitted regenerates the vectors (with the committed keys)
// and requires exactly the committed files: a change to the generator, or to what
// bundle.Create writes, must come with the regenerated vectors.
func TestGeneratedVectorsAreCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("generating the vectors takes a few seconds")
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "keys"), os.DirFS(filepath.Join(committed, "keys"))); err != nil {
		t.Fatal(err)
	}
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	got, want := readTree(t, dir), readTree(t, committed)
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is committed but no longer generated", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs from a fresh generation", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is generated but not committed", name)
		}
	}
	if t.Failed() {
		t.Log("run: go generate ./internal/vectorgen")
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
