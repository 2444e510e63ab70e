package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addVectorSeeds(f *testing.F, manifestOnly bool) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "vectors", "*.pkb"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if manifestOnly {
			if r, err := NewReader(bytes.NewReader(data)); err == nil {
				f.Add(r.ManifestBytes())
			}
			continue
		}
		if len(data) < 1<<20 {
			f.Add(data)
		}
	}
}

// FuzzReader: no input makes the reader panic or accept a payload whose digest differs.
func FuzzReader(f *testing.F) {
	addVectorSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		readAll(data)
	})
}

// FuzzManifest: whatever ParseManifest accepts is valid and re-encodes to the same bytes.
func FuzzManifest(f *testing.F) {
	addVectorSeeds(f, true)
	f.Add([]byte(`{"components":[],"files":[],"format":"patchkit.bundle/v1","id":"a","label":"b","sequence":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted manifest is not canonical:\n%q\n%q", data, again)
		}
	})
}
