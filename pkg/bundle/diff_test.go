package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDiffTree: a bundle matches the target tree it was made from, and every kind of
// drift (changed file, missing file, a deleted path still present) is named.
func TestDiffTree(t *testing.T) {
	t.Parallel()
	data, base, target := testBundle(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest()
	d, err := DiffTree(m, target)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Same() {
		t.Fatalf("bundle differs from its own target: %+v", d.Paths)
	}
	d, err = DiffTree(m, base)
	if err != nil {
		t.Fatal(err)
	}
	if d.Same() {
		t.Fatal("bundle matches its base tree")
	}
	for _, p := range d.Paths {
		if p.Change == "changed" && (p.A == nil || p.B == nil || p.Differs[0] != "target") {
			t.Errorf("changed path %s without both sides: %+v", p.Path, p)
		}
	}
	if d2 := DiffManifests(m, m); !d2.Same() {
		t.Fatalf("a manifest differs from itself: %+v", d2)
	}
	other := *m
	other.Label, other.Advisories, other.Files = "1.1 (b)", []string{"CVE-2026-9999"}, m.Files[1:]
	d3 := DiffManifests(m, &other)
	if len(d3.Fields) != 2 || d3.Fields[0].Field != "label" || d3.Fields[1].Added[0] != "CVE-2026-9999" || d3.Fields[1].Removed[0] != "CVE-2026-1234" {
		t.Fatalf("fields %+v", d3.Fields)
	}
	if len(d3.Paths) != 1 || d3.Paths[0].Change != "removed" || d3.Paths[0].Path != m.Files[0].Path {
		t.Fatalf("paths %+v", d3.Paths)
	}

	// A symlinked parent is refused, not followed.
	evil := t.TempDir()
	first := m.Files[0].Path
	if dir := filepath.Dir(first); dir != "." {
		if err := os.Symlink(target, filepath.Join(evil, dir)); err != nil {
			t.Fatal(err)
		}
		if _, err := DiffTree(m, evil); err == nil {
			t.Fatalf("followed a symlinked parent of %s", first)
		}
	}
}
