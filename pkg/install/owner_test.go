package install

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// owners maps every path of dir (the state directory excluded) to "uid:gid".
func owners(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == StateDirName {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		return nil
	})
	return out
}

// TestOwnership: apply keeps every replaced path's owner and group (a setuid file
// included, its setuid bit intact), remove restores content, mode and owner bit for
// bit (issue 13 item 7).
func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	t.Parallel()
	d := t.TempDir()
	base, target, root := filepath.Join(d, "base"), filepath.Join(d, "target"), filepath.Join(d, "root")
	makeTree(t, base, spec{"bin/": "", "bin/su@4755": "su v1", "lib/": "", "lib/x": "x v1", "lib/link": "->x",
		"share/": "", "share/doc": "doc", "gone": "to delete"})
	makeTree(t, target, spec{"bin/": "", "bin/su@4755": "su v2", "lib/": "", "lib/x": "x v2", "lib/link": "->y",
		"lib/y": "new", "share/": "0750", "share/doc": "doc"})
	pkb := makeBundle(t, base, target, "foo", 1, nil)
	copyTree(t, base, root)
	chown := map[string][2]int{"bin/su": {1001, 1002}, "lib/x": {1003, 1004}, "lib/link": {1005, 1006},
		"share": {1007, 1008}, "gone": {1009, 1010}, "lib": {1011, 1012}}
	for p, o := range chown {
		if err := os.Lchown(filepath.Join(root, p), o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	unix.Chmod(filepath.Join(root, "bin/su"), 0o4755) // chown cleared the setuid bit
	beforeOwners, before := owners(t, root), snapshot(t, root)

	if _, err := apply(t, root, pkb); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, target)
	after := owners(t, root)
	for _, p := range []string{"bin/su", "lib/x", "lib/link", "share", "lib"} {
		if after[p] != beforeOwners[p] {
			t.Errorf("apply: %s owner %s, want %s", p, after[p], beforeOwners[p])
		}
	}
	if fi, _ := os.Lstat(filepath.Join(root, "bin/su")); fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("apply: bin/su lost its setuid bit: %v", fi.Mode())
	}
	if _, err := remove(t, root, ""); err != nil {
		t.Fatal(err)
	}
	if d := sameSnapshot(before, snapshot(t, root)); d != "" {
		t.Fatalf("remove: content or mode differs:\n%s", d)
	}
	if d := sameSnapshot(beforeOwners, owners(t, root)); d != "" {
		t.Fatalf("remove: owners differ:\n%s", d)
	}
}
