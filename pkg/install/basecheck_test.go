package install

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// TestBaseCheckAgrees holds apply and bundle.CheckBase (what verify --base and
// extract --base run) together on the same hostile base trees: both refuse each, for
// the same reason, and neither blocks on a FIFO (issue 12: one base-tree checker).
func TestBaseCheckAgrees(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	base, target := filepath.Join(d, "base"), filepath.Join(d, "target")
	makeTree(t, base, spec{"lib/": "", "lib/a": "A", "lib/sub/": "", "lib/sub/b": "B"})
	makeTree(t, target, spec{"lib/": "", "lib/a": "A2", "lib/sub/": "", "lib/sub/b": "B2"})
	pkb := makeBundle(t, base, target, "foo", 1, nil)
	r, err := bundle.NewReader(bytes.NewReader(pkb))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest()
	special := func(kind uint32) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			p := filepath.Join(root, "lib/a")
			os.Remove(p)
			if kind == unix.S_IFSOCK {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if kind == unix.S_IFCHR && os.Geteuid() != 0 {
				t.Skip("mknod needs root")
			}
			if err := unix.Mknod(p, kind|0o644, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, root string)
		want   string
	}{
		{"clean", func(t *testing.T, root string) {}, ""},
		{"symlinked parent leaving the tree", func(t *testing.T, root string) {
			out := filepath.Join(filepath.Dir(root), "elsewhere")
			copyTree(t, filepath.Join(root, "lib/sub"), out)
			os.RemoveAll(filepath.Join(root, "lib/sub"))
			os.Symlink(out, filepath.Join(root, "lib/sub"))
		}, "parent lib/sub is a symlink"},
		{"symlinked parent inside the tree", func(t *testing.T, root string) {
			os.Rename(filepath.Join(root, "lib/sub"), filepath.Join(root, "lib/sub2"))
			os.Symlink("sub2", filepath.Join(root, "lib/sub"))
		}, "parent lib/sub is a symlink"},
		{"FIFO", special(unix.S_IFIFO), "is a FIFO"},
		{"socket", special(unix.S_IFSOCK), "is a socket"},
		{"device", special(unix.S_IFCHR), "is a character device"},
		{"mode", func(t *testing.T, root string) { os.Chmod(filepath.Join(root, "lib/a"), 0o600) }, "mode 0600, want 0644"},
		{"content", func(t *testing.T, root string) { os.WriteFile(filepath.Join(root, "lib/a"), []byte("X"), 0o644) }, "content digest differs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "root")
			copyTree(t, base, root)
			c.damage(t, root)
			done := make(chan error, 1)
			go func() { done <- bundle.CheckBase(m, root) }()
			var checkErr error
			select {
			case checkErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("bundle.CheckBase blocked")
			}
			_, applyErr := apply(t, root, pkb)
			if c.want == "" {
				if checkErr != nil || applyErr != nil {
					t.Fatalf("clean base refused: check %v, apply %v", checkErr, applyErr)
				}
				return
			}
			for what, err := range map[string]error{"verify --base": checkErr, "apply": applyErr} {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: got %v, want %q", what, err, c.want)
				}
			}
		})
	}
}
