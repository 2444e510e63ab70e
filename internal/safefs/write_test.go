package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// WriteFile replaces a link or a file with its name, never writing through it;
// ReadFile refuses a link, a FIFO and an oversized file; CreateTemp never opens a
// planted name.
func TestWriteReadFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "doc")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ReadFile("doc", 100); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("read through a link: %v", err)
	}
	if _, err := d.ReadFile("fifo", 100); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("read of a fifo: %v", err)
	}
	if err := d.WriteFile("doc", []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatal("WriteFile wrote through a link")
	}
	if b, err := d.ReadFile("doc", 4); err != nil || string(b) != "new\n" {
		t.Fatalf("read back: %q %v", b, err)
	}
	if _, err := d.ReadFile("doc", 3); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Fatalf("oversized: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "doc")); err != nil || fi.Mode() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	if err := d.WriteFile("../doc", nil, 0o600); err == nil {
		t.Fatal("WriteFile outside the directory")
	}
	// A temporary file is new (O_EXCL): a second create of its name is refused.
	f, p, err := d.CreateTemp("", ".t-")
	if err != nil || !strings.HasPrefix(p, ".t-") {
		t.Fatal(p, err)
	}
	f.Close()
	if _, err := d.create(p, unix.O_RDWR); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("a second create of %s: %v", p, err)
	}
	names, _ := d.ReadDir("")
	if len(names) != 3 {
		t.Fatalf("files left: %v", names)
	}
}
