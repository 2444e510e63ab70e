package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/internal/testcorpus"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestCorpusScripts runs testdata/corpus/*.txtar: end-to-end scripts on the real trees
// of the corpus (internal/testcorpus), skipped when it is missing.
func TestCorpusScripts(t *testing.T) {
	testcorpus.Trees(t, "libssl3", "3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2")
	dir := testcorpus.Dir()
	if testing.Short() {
		t.Skip("-short")
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/corpus",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("PATCHKIT_CORPUS", dir)
			return nil
		},
		RequireExplicitExec: true,
	})
}

// TestCrashScripts runs testdata/crash/*.txtar: commands killed at a given filesystem
// step or given a full disk, then repaired by the next command. Fault injection exists
// only in a crashtest build, so these run with
//
//	go test -tags crashtest -run TestCrashScripts ./cmd/patchkit
//
// (scripts/crashtest.sh does) and are skipped otherwise.
func TestCrashScripts(t *testing.T) {
	if !crashBuild {
		t.Skip("fault injection needs -tags crashtest")
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/crash",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			return nil
		},
		RequireExplicitExec: true,
	})
}

// runTarget runs one patchkit command line in this process and returns its exit code and
// stderr.
func runTarget(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		return exitOK, errb.String()
	}
	return exitCode(err), errb.String() + err.Error()
}

// hashDir digests every path, type, mode, link text and content under dir.
func hashDir(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v %d\n", rel, fi.Mode(), fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(h, "-> %s\n", l)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
}

// TestBoundary is the filesystem-boundary test of issue 13: every target-side command
// (apply, apply of a superseding bundle, remove, status, recall apply, retire) runs
// against a tree with an installed bundle seeded with hostile state or links (13 seeds), and a
// hash of the sibling directory "outside" proves nothing outside the root changed.
// Hostile state is refused with exit 3 by every command, and leaves the tree as it was.
func TestBoundary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	d := t.TempDir()
	t.Setenv("PATCHKIT_PASSWORD", "pw")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755)
		if err := os.WriteFile(filepath.Join(d, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base/lib/libfoo.so", "old library code, version one\n")
	write("base/lib/old.txt", "obsolete\n")
	write("target/lib/libfoo.so", "new library code, version two\n")
	write("target/share/new.txt", "added\n")
	write("target2/lib/libfoo.so", "new library code, version three\n")
	write("outside/victim", "precious\n")
	write("outside/dir/f", "keep\n")
	write("outside/lib/libfoo.so", "new library code, version two\n") // what a follower of lib -> ../outside/lib would find
	must := func(args ...string) {
		t.Helper()
		if code, msg := runTarget(t, d, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, msg)
		}
	}
	must("key", "generate", "--output-key-prefix", "rel")
	must("create", "--base", "base", "--target", "target", "--component", "foo", "--base-version", "1.0", "--label", "a", "--sequence", "1", "-o", "a.pkb")
	must("create", "--base", "base", "--target", "target2", "--component", "foo", "--base-version", "1.0", "--label", "b", "--sequence", "2", "-o", "b.pkb")
	must("sign", "a.pkb", "--key", "rel.key")
	must("sign", "b.pkb", "--key", "rel.key")
	must("recall", "create", "--bundle", "a.pkb", "--reason", "bad", "--sequence", "1", "--key", "rel.key", "-o", "recall.json")
	copyDir(t, filepath.Join(d, "base"), filepath.Join(d, "template"))
	must("apply", "a.pkb", "--root", "template", "--key", "rel.pub")

	outside := filepath.Join(d, "outside")
	st := func(root, name string) string { return filepath.Join(root, ".patchkit", name) }
	link := func(p, to string) {
		os.RemoveAll(p)
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
	}
	seeds := []struct {
		name  string
		state bool // hostile state: every command must refuse with exit 3
		plant func(root string)
	}{
		{"journal escaping the root", true, func(r string) {
			os.WriteFile(st(r, "journal.json"), []byte(`{"type":"patchkit.install-journal/v1","tx":"20260101T000000Z-0000000000000000","op":"remove","rollback":true,"steps":[{"path":"../outside/victim","to":{"type":"symlink","link":"/etc/shadow"}}],"state":{"type":"patchkit.install-state/v1","tx":"20260101T000000Z-0000000000000000","installed":[],"floors":{"foo":1}}}`), 0o600)
		}},
		{"lock is a link outside", true, func(r string) { link(st(r, "lock"), filepath.Join(outside, "victim")) }},
		{"lock is a hard link to a file outside", true, func(r string) {
			os.Remove(st(r, "lock"))
			if err := os.Link(filepath.Join(outside, "victim"), st(r, "lock")); err != nil {
				t.Fatal(err)
			}
		}},
		{"state.json is a link outside", true, func(r string) { link(st(r, "state.json"), filepath.Join(outside, "victim")) }},
		{"journal.json is a link outside", true, func(r string) { link(st(r, "journal.json"), filepath.Join(outside, "victim")) }},
		{"objects is a link outside", true, func(r string) { link(st(r, "objects"), filepath.Join(outside, "dir")) }},
		{"staging is a link outside", true, func(r string) { link(st(r, "staging"), filepath.Join(outside, "dir")) }},
		{"manifests is a link outside", true, func(r string) { link(st(r, "manifests"), filepath.Join(outside, "dir")) }},
		{"state dir is a link outside", true, func(r string) { link(filepath.Join(r, ".patchkit"), filepath.Join(outside, "dir")) }},
		{"state path escaping the root", true, func(r string) {
			b, _ := os.ReadFile(st(r, "state.json"))
			os.WriteFile(st(r, "state.json"), bytes.Replace(b, []byte(`"path": "lib/libfoo.so"`), []byte(`"path": "../outside/victim"`), 1), 0o600)
		}},
		{"tree parent is a relative link outside", false, func(r string) {
			link(filepath.Join(r, "lib"), "../outside/lib")
		}},
		{"tree parent is an absolute link outside", false, func(r string) {
			link(filepath.Join(r, "lib"), filepath.Join(outside, "lib"))
		}},
		{"tree link chain", false, func(r string) {
			os.MkdirAll(filepath.Join(r, "x"), 0o755)
			link(filepath.Join(r, "x/l1"), "..")
			link(filepath.Join(r, "x/l2"), "l1/../../outside")
			link(filepath.Join(r, "lib"), "x/l2/lib")
		}},
	}
	commands := [][]string{
		{"apply", "a.pkb", "--root", "ROOT", "--key", "rel.pub"},
		{"apply", "b.pkb", "--root", "ROOT", "--key", "rel.pub"},
		{"remove", "--root", "ROOT"},
		{"status", "--root", "ROOT"},
		{"recall", "apply", "recall.json", "--root", "ROOT", "--key", "rel.pub"},
		{"retire", "--root", "ROOT", "foo-1", "--folded-into", "1.1"},
	}
	n := 0
	for i, seed := range seeds {
		for j, c := range commands {
			root := filepath.Join(d, fmt.Sprintf("r%d-%d", i, j))
			copyDir(t, filepath.Join(d, "template"), root)
			seed.plant(root)
			before, treeBefore := hashDir(t, outside), hashDir(t, root)
			args := append([]string(nil), c...)
			for k := range args {
				if args[k] == "ROOT" {
					args[k] = filepath.Base(root)
				}
			}
			code, msg := runTarget(t, d, args...)
			if hashDir(t, outside) != before {
				t.Errorf("%s: %v changed a file outside the root (exit %d: %s)", seed.name, c[0], code, msg)
			}
			if seed.state {
				if code != exitVerify {
					t.Errorf("%s: %v: exit %d, want 3: %s", seed.name, args, code, msg)
				}
				if hashDir(t, root) != treeBefore {
					t.Errorf("%s: %v changed the tree", seed.name, args)
				}
			}
			n++
		}
	}
	t.Logf("%d command runs on %d hostile trees: nothing outside the root changed", n, len(seeds))
}
