package channel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/patchkit/patchkit/internal/safefs"
	"github.com/patchkit/patchkit/pkg/install"
)

// hashTree hashes what is at every path below dir (type, mode, size, digest, link
// text), read without following a link or opening a FIFO.
func hashTree(t *testing.T, dir string) string {
	t.Helper()
	d, err := safefs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := sha256.New()
	var walk func(p string)
	walk = func(p string) {
		names, err := d.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		for _, n := range names {
			if p != "" {
				n = p + "/" + n
			}
			nd, err := d.Node(n)
			if err != nil { // a FIFO: its type and mode
				st, _, err := d.Lstat(n)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(h, "%s %o\n", n, st.Mode)
				continue
			}
			fmt.Fprintf(h, "%s %+v\n", n, *nd)
			if nd.Type == safefs.TypeDir {
				walk(n)
			}
		}
	}
	walk("")
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestHostileStateDir plants links and FIFOs where update keeps its own files in the
// state directory (the channel memory, its temporary file, bundle downloads, the
// directory itself) and checks that update refuses them as damaged state (exit 3) or
// writes beside them, and that nothing outside the root changes. The channel is an OCI
// layout: no registry is needed.
func TestHostileStateDir(t *testing.T) {
	t.Parallel()
	f := newLayoutFixture(t)
	ctx := context.Background()
	mkfifo := func(p string) error { return syscall.Mkfifo(p, 0o600) }
	cases := []struct {
		name  string
		plant func(t *testing.T, state, outside string) error // before install.Open
		swap  func(t *testing.T, root, outside string) error  // after install.Open
		want  string                                          // "" for a successful update
	}{
		{name: "memory is a link out", want: "untrusted install state channels.json: not a patchkit channel memory (unsafe path channels.json: is a symlink)",
			plant: func(t *testing.T, state, outside string) error {
				return os.Symlink(filepath.Join(outside, "victim"), filepath.Join(state, seenFile))
			}},
		{name: "memory is a relative link out", want: "is a symlink",
			plant: func(t *testing.T, state, outside string) error {
				return os.Symlink("../../outside/victim", filepath.Join(state, seenFile))
			}},
		{name: "memory is a link to a missing file", want: "is a symlink",
			plant: func(t *testing.T, state, outside string) error {
				return os.Symlink(filepath.Join(outside, "new"), filepath.Join(state, seenFile))
			}},
		{name: "memory is a fifo", want: "is a FIFO, not a regular file",
			plant: func(t *testing.T, state, outside string) error { return mkfifo(filepath.Join(state, seenFile)) }},
		{name: "memory is a directory", want: "not a patchkit channel memory",
			plant: func(t *testing.T, state, outside string) error {
				return os.Mkdir(filepath.Join(state, seenFile), 0o700)
			}},
		{name: "memory is oversized", want: fmt.Sprintf("larger than %d bytes", maxSeenSize),
			plant: func(t *testing.T, state, outside string) error {
				return os.WriteFile(filepath.Join(state, seenFile), []byte(`{"type":"`+strings.Repeat("x", maxSeenSize)+`"}`), 0o600)
			}},
		{name: "memory has an unknown field", want: `unknown field "x"`,
			plant: func(t *testing.T, state, outside string) error {
				return os.WriteFile(filepath.Join(state, seenFile), []byte(`{"type":"patchkit.channels-seen/v1","channels":{},"x":1}`), 0o600)
			}},
		{name: "memory has trailing data", want: "data after the document",
			plant: func(t *testing.T, state, outside string) error {
				return os.WriteFile(filepath.Join(state, seenFile), []byte(`{"type":"patchkit.channels-seen/v1","channels":{}} {}`), 0o600)
			}},
		{name: "memory entry of another channel", want: `entry "libfoo" is inconsistent`,
			plant: func(t *testing.T, state, outside string) error {
				return os.WriteFile(filepath.Join(state, seenFile), []byte(`{"type":"patchkit.channels-seen/v1","channels":{"libfoo":{"channel":"other","sequence":1,"digest":"","expires":"","seen_at":"2026-01-01T00:00:00Z"}}}`), 0o600)
			}},
		{name: "memory with a negative sequence", want: `entry "libfoo" is inconsistent`,
			plant: func(t *testing.T, state, outside string) error {
				return os.WriteFile(filepath.Join(state, seenFile), []byte(`{"type":"patchkit.channels-seen/v1","channels":{"libfoo":{"channel":"libfoo","sequence":-1,"digest":"","expires":"","seen_at":"2026-01-01T00:00:00Z"}}}`), 0o600)
			}},
		// Temporary names are random and created O_EXCL: planted ones are never opened,
		// and the update writes beside them. (install.Open removes stray temporary
		// files, so these are planted after it.)
		{name: "planted temporary links and fifos",
			swap: func(t *testing.T, root, outside string) error {
				state := filepath.Join(root, install.StateDirName)
				for _, n := range []string{downloadPrefix, downloadPrefix + "0000000000000000", "." + seenFile + ".tmp-", "." + seenFile + ".tmp-0000000000000000"} {
					if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(state, n)); err != nil {
						return err
					}
				}
				return mkfifo(filepath.Join(state, downloadPrefix+"fifo"))
			}},
		// The state directory itself swapped for a link after install opened it.
		{name: "state directory swapped for a link", want: "unsafe path " + install.StateDirName + ": is a symlink",
			swap: func(t *testing.T, root, outside string) error {
				state := filepath.Join(root, install.StateDirName)
				if err := os.Rename(state, state+"-real"); err != nil {
					return err
				}
				return os.Symlink(filepath.Join(outside, "sub"), state)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
			writeTree(t, root, baseFiles)
			writeTree(t, outside, map[string]string{"victim": "precious\n", "sub/keep": "keep\n"})
			state := filepath.Join(root, install.StateDirName)
			if err := os.Mkdir(state, 0o700); err != nil {
				t.Fatal(err)
			}
			if c.plant != nil {
				if err := c.plant(t, state, outside); err != nil {
					t.Fatal(err)
				}
			}
			before := hashTree(t, outside)
			tg, err := install.Open(ctx, root, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			planted := hashTree(t, state)
			if c.swap != nil {
				if err := c.swap(t, root, outside); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := Update(ctx, f.open(t, nil), tg, &UpdateOptions{Policy: f.policy, Root: root})
			if c.want == "" {
				if err != nil || len(rep.Actions) != 1 || rep.Actions[0].Result == nil {
					t.Fatalf("update: %v %+v", err, rep)
				}
				if b, _ := os.ReadFile(filepath.Join(root, "usr/lib/libfoo.so.1")); string(b) != targetFiles["usr/lib/libfoo.so.1"] {
					t.Fatal("update did not install")
				}
				if _, err := os.ReadFile(filepath.Join(state, seenFile)); err != nil {
					t.Fatalf("no channel memory: %v", err)
				}
				// Only the planted names remain: the update's own temporary files are gone.
				names, _ := filepath.Glob(filepath.Join(state, ".*tmp-*"))
				if len(names) != 5 {
					t.Fatalf("temporary files left: %v", names)
				}
			} else {
				var se *install.StateError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("update: got %v, want a StateError (exit 3) with %q", err, c.want)
				}
				if b, _ := os.ReadFile(filepath.Join(root, "usr/lib/libfoo.so.1")); string(b) != baseFiles["usr/lib/libfoo.so.1"] {
					t.Fatal("a refused update changed the tree")
				}
				if c.swap == nil {
					if got := hashTree(t, state); got != planted {
						t.Fatal("a refused update changed what was planted in the state directory")
					}
				}
			}
			if got := hashTree(t, outside); got != before {
				t.Fatal("update changed a directory outside the root")
			}
		})
	}
}
