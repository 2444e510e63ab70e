package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")

	f, err := Create(p, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("output visible before commit: %v", err)
	}
	f.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("abort left %d entries", len(ents))
	}

	if err := WriteFile(p, []byte("whole"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "whole" {
		t.Fatalf("got %q, %v", got, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %d entries", len(ents))
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	d, err := CreateDir(out)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Path, "a"), []byte("x"), 0o644)
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "a")); err != nil || string(b) != "x" {
		t.Fatalf("got %q, %v", b, err)
	}
	if _, err := CreateDir(out); err == nil {
		t.Fatal("CreateDir over an existing path succeeded")
	}
	d2, _ := CreateDir(filepath.Join(dir, "other"))
	d2.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("abort left entries: %d", len(ents))
	}

	// An existing empty directory is filled; a link to one is refused.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	if err := os.Symlink("empty", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateDir(filepath.Join(dir, "link")); err == nil {
		t.Fatal("CreateDir over a link to an empty directory succeeded")
	}
	d3, err := CreateDir(empty)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d3.Path, "b"), []byte("y"), 0o644)
	if err := d3.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(empty, "b")); err != nil || string(b) != "y" {
		t.Fatalf("got %q, %v", b, err)
	}
	os.Remove(filepath.Join(dir, "link"))
	os.RemoveAll(empty)
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("abort left entries: %d", len(ents))
	}
}
