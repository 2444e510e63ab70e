package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestNoFollow runs both resolvers (openat2 and the O_NOFOLLOW walk) over links that
// lead outside, absolute links, chains and clean paths: they agree, and no operation
// reaches outside the directory.
func TestNoFollow(t *testing.T) {
	d := t.TempDir()
	root, out := filepath.Join(d, "root"), filepath.Join(d, "out")
	for _, p := range []string{"a/real", "out"} {
		os.MkdirAll(filepath.Join(d, "root", p), 0o755)
	}
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "x"), []byte("outside"), 0o644)
	os.WriteFile(filepath.Join(root, "a/real/x"), []byte("inside"), 0o644)
	os.Symlink("..", filepath.Join(root, "a/l1"))
	os.Symlink("l1/..", filepath.Join(root, "a/l2"))
	os.Symlink(out, filepath.Join(root, "a/abs"))
	os.Symlink("real", filepath.Join(root, "a/in"))
	for _, walk := range []bool{false, true} {
		noOpenat2.Store(walk)
		dir, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"a/l1/out/x", "a/l2/x", "a/abs/x", "a/in/x"} {
			if _, err := dir.Open(p); !isPathError(err) {
				t.Errorf("walk=%v: Open(%s): %v, want a PathError", walk, p, err)
			}
			if err := dir.Mkdir(p, 0o755); !isPathError(err) {
				t.Errorf("walk=%v: Mkdir(%s): %v", walk, p, err)
			}
			if f, err := dir.Create(p); !isPathError(err) {
				if f != nil {
					f.Close()
				}
				t.Errorf("walk=%v: Create(%s): %v", walk, p, err)
			}
		}
		for _, p := range []string{"../out/x", "/etc/passwd", "a/./real", "a//real", ""} {
			if _, err := dir.Open(p); !isPathError(err) {
				t.Errorf("walk=%v: Open(%q): %v", walk, p, err)
			}
		}
		if f, err := dir.Open("a/real/x"); err != nil {
			t.Errorf("walk=%v: clean path: %v", walk, err)
		} else {
			f.Close()
		}
		// The last component is never followed either.
		if _, err := dir.Open("a/abs"); err == nil {
			t.Errorf("walk=%v: opened a symlink", walk)
		}
		if n, err := dir.Node("a/abs"); err != nil || n.Type != TypeSymlink || n.Link != out {
			t.Errorf("walk=%v: Node of a link: %+v %v", walk, n, err)
		}
		dir.Close()
	}
	noOpenat2.Store(false)
	if b, _ := os.ReadFile(filepath.Join(out, "x")); string(b) != "outside" {
		t.Fatal("outside changed")
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Fatalf("outside has %d entries", len(ents))
	}
}

func isPathError(err error) bool {
	var pe *PathError
	return errors.As(err, &pe)
}
