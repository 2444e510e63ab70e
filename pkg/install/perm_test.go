package install

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPermissionDenied applies to a tree with a directory the installer may not write
// to: the apply is refused before anything changes. Run as root, the installer is a
// helper process running as nobody (65534).
func TestPermissionDenied(t *testing.T) {
	s := newSynth(t)
	work, err := os.MkdirTemp("", "patchkit-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	os.Chmod(work, 0o755)
	root := filepath.Join(work, "root")
	copyTree(t, s.base, root)
	pkb := filepath.Join(work, "a.pkb")
	os.WriteFile(pkb, s.a, 0o644)
	// The state directory belongs to the installer; lib/ does not.
	os.Mkdir(filepath.Join(root, StateDirName), 0o700)
	before := snapshot(t, root)

	var out string
	if os.Getuid() == 0 {
		bin := filepath.Join(work, "helper")
		copyFile(t, os.Args[0], bin)
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && (strings.HasPrefix(p, filepath.Join(root, StateDirName)) || p == root || strings.HasPrefix(p, filepath.Join(root, "share"))) {
				os.Lchown(p, 65534, 65534)
			}
			return nil
		})
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "PATCHKIT_CRASH_HELPER=1", "PATCHKIT_CRASH_OP=apply", "PATCHKIT_CRASH_ROOT="+root, "PATCHKIT_CRASH_BUNDLE="+pkb)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err == nil {
			t.Fatal("apply as nobody succeeded")
		}
		out = errb.String()
	} else {
		os.Chmod(filepath.Join(root, "lib"), 0o555)
		defer os.Chmod(filepath.Join(root, "lib"), 0o755)
		_, err := apply(t, root, s.a)
		if err == nil {
			t.Fatal("apply succeeded")
		}
		out = err.Error()
	}
	t.Logf("refused: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "permission denied") {
		t.Fatalf("got %q, want permission denied", out)
	}
	if d := sameSnapshot(before, snapshot(t, root)); d != "" {
		t.Fatalf("tree changed:\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(root, StateDirName, journalFile)); err == nil {
		t.Fatal("journal left")
	}
}

func copyFile(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}
