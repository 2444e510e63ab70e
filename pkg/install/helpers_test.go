package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// spec describes a tree: path → content. A trailing "/" on the path makes a directory
// (content: its mode, "" for 0755); content "->X" makes a symlink to X; a path
// suffix "@0755" sets a file's mode.
type spec map[string]string

func makeTree(t testing.TB, dir string, s spec) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var dirModes [][2]string
	for _, k := range keys {
		v := s[k]
		p, mode, _ := strings.Cut(k, "@")
		full := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(p, "/")))
		os.MkdirAll(filepath.Dir(full), 0o755)
		switch {
		case strings.HasSuffix(p, "/"):
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			if v != "" {
				dirModes = append(dirModes, [2]string{full, v})
			}
		case strings.HasPrefix(v, "->"):
			if err := os.Symlink(v[2:], full); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
			if mode != "" {
				m, _ := bundle.ParseMode(mode)
				unix.Chmod(full, m) // os.Chmod drops raw setuid bits
			}
		}
	}
	for i := len(dirModes) - 1; i >= 0; i-- {
		m, _ := bundle.ParseMode(dirModes[i][1])
		os.Chmod(dirModes[i][0], fs.FileMode(m))
	}
}

// snapshot describes every path of dir (the state directory excluded) by type, mode,
// digest and link text.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if rel == StateDirName {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "link " + l
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %v", fi.Mode())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file %v %s", fi.Mode(), hex.EncodeToString(sum[:8]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(a, b map[string]string) string {
	var diffs []string
	for k, v := range a {
		if b[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %q vs %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing vs %q", k, v))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "\n")
}

// copyTree copies src to dst, keeping modes and symlinks.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	var dirs [][2]any
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			return os.Symlink(l, out)
		case fi.IsDir():
			dirs = append(dirs, [2]any{out, fi.Mode().Perm()})
			return os.MkdirAll(out, 0o755)
		default:
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			o, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_EXCL, fi.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(o, in); err != nil {
				return err
			}
			o.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
			return o.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i][0].(string), dirs[i][1].(fs.FileMode))
	}
}

// makeBundle creates an unsigned bundle from base to target.
func makeBundle(t testing.TB, base, target, component string, seq int64, mod func(*bundle.CreateOptions)) []byte {
	t.Helper()
	o := &bundle.CreateOptions{Label: fmt.Sprintf("%s (%d)", component, seq), Sequence: seq,
		Components: []bundle.Source{{Name: component, BaseVersion: "1.0", TargetVersion: "1.1", BaseDir: base, TargetDir: target}}}
	if mod != nil {
		mod(o)
	}
	var buf bytes.Buffer
	if _, err := bundle.Create(context.Background(), &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allow is the verification of unsigned test bundles: it only enforces the floors.
func allow(_ context.Context, manifest []byte, _ []bundle.Signature, floors map[string]int64, rc *Recall) error {
	m, err := bundle.ParseManifest(manifest)
	if err != nil {
		return err
	}
	for _, c := range m.Components {
		if m.Sequence < floors[c.Name] {
			return fmt.Errorf("sequence %d below the floor %d", m.Sequence, floors[c.Name])
		}
	}
	if rc != nil {
		if _, ok := rc.Entries[bundle.Digest(manifest)]; ok {
			return fmt.Errorf("recalled")
		}
	}
	return nil
}

func apply(t testing.TB, root string, pkb []byte) (*Result, error) {
	t.Helper()
	tg, err := Open(context.Background(), root, &Options{LockTimeout: 1})
	if err != nil {
		return nil, err
	}
	defer tg.Close()
	r, err := bundle.NewReader(bytes.NewReader(pkb))
	if err != nil {
		t.Fatal(err)
	}
	return tg.Apply(context.Background(), r, allow)
}

func remove(t testing.TB, root, ref string) (*Result, error) {
	t.Helper()
	tg, err := Open(context.Background(), root, &Options{LockTimeout: 1})
	if err != nil {
		return nil, err
	}
	defer tg.Close()
	return tg.Remove(context.Background(), ref)
}

func readState(t testing.TB, root string) *State {
	t.Helper()
	st := newState()
	f, err := os.Open(filepath.Join(root, StateDirName, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := decodeStrict(f, maxStateSize, st); err != nil {
		t.Fatal(err)
	}
	return st
}

// writeDoc writes v as the JSON document p (a test planting state).
func writeDoc(t testing.TB, p string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Synthetic trees covering every op and type change.
var (
	synthBase = spec{
		"bin/":               "",
		"bin/tool@0755":      strings.Repeat("tool v1\n", 300),
		"lib/":               "",
		"lib/libfoo.so.1":    strings.Repeat("foo library version one\x00\x01", 2000),
		"lib/libfoo.so":      "->libfoo.so.1",
		"lib/plugins/":       "",
		"lib/plugins/a.so":   "plugin a",
		"lib/plugins/b.so":   "plugin b",
		"share/":             "",
		"share/doc@0644":     "docs",
		"share/pinned.txt":   "unchanged",
		"share/mode.sh@0644": "#!/bin/sh\n",
		"etc/":               "",
		"etc/conf.d":         "was a file",
		"var/":               "",
		"var/cache/":         "",
		"var/cache/x":        "cached",
		"old.txt":            "obsolete",
	}
	synthTarget = spec{
		"bin/":               "",
		"bin/tool@0755":      strings.Repeat("tool v2\n", 300),
		"lib/":               "",
		"lib/libfoo.so.1":    strings.Repeat("foo library version one\x00\x01", 1000) + "PATCHED" + strings.Repeat("foo library version one\x00\x01", 1000),
		"lib/libfoo.so":      "->libfoo.so.2",
		"lib/libfoo.so.2":    "new soname",
		"share/":             "0555",
		"share/doc@0644":     "docs v2",
		"share/pinned.txt":   "unchanged",
		"share/mode.sh@0755": "#!/bin/sh\n",
		"share/new/":         "",
		"share/new/deep/":    "",
		"share/new/deep/f":   "deep new file",
		"etc/":               "",
		"etc/conf.d/":        "0750",
		"etc/conf.d/main":    "now a directory",
		"var/":               "",
		"var/cache":          "now a file",
	}
	// synthTarget2 is a second target for the same base, for supersede tests.
	synthTarget2 = spec{
		"bin/":               "",
		"bin/tool@0755":      strings.Repeat("tool v3\n", 300),
		"lib/":               "",
		"lib/libfoo.so.1":    strings.Repeat("foo library version one\x00\x01", 2000),
		"lib/libfoo.so":      "->libfoo.so.1",
		"lib/plugins/":       "",
		"lib/plugins/a.so":   "plugin a v3",
		"share/":             "",
		"share/doc@0644":     "docs v3",
		"share/pinned.txt":   "unchanged",
		"share/mode.sh@0644": "#!/bin/sh\n",
		"etc/":               "",
		"etc/conf.d":         "was a file",
		"var/":               "",
		"var/cache/":         "",
		"var/cache/x":        "cached v3",
		"var/cache/y":        "added by v3",
		"old.txt":            "obsolete",
	}
)

func mkfifo(p string) error { return unix.Mkfifo(p, 0o600) }
