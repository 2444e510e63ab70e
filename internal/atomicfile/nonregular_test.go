package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// No output path (create, sign, extract, recall create -o) ever replaces a device,
// FIFO, socket, directory or symlink (issue 13 item 12).
func TestRefusesNonRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{fifo: "named pipe", link: "symlink", dir: "directory"}
	if os.Getuid() == 0 {
		dev := filepath.Join(dir, "null")
		if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err == nil {
			paths[dev] = "device"
		}
	}
	for p, kind := range paths {
		err := WriteFile(p, []byte("x"), 0o644)
		if !errors.Is(err, ErrNotRegular) || err.Error() != "refusing to replace "+p+": not a regular file (it is a "+kind+")" {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Appearing between Create and Commit is caught too.
	out := filepath.Join(dir, "late")
	f, err := Create(out, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("commit over a new FIFO: %v", err)
	}
	if fi, err := os.Lstat(out); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", fi, err)
	}
	// A directory that appears before Dir.Commit is never replaced (rename(2) would
	// replace an empty one).
	d, err := CreateDir(filepath.Join(dir, "outdir"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "outdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); !errors.Is(err, os.ErrExist) {
		t.Fatalf("dir commit over an empty dir: %v", err)
	}
}
