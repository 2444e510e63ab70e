package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The state directory is input (issue 13 items 1 and 2): every planted or damaged
// state, journal, object, manifest or staged file, and every link in their place, is
// refused (StateError or PathError, exit 3 at the CLI) or repaired from what is proven,
// and nothing outside the root changes.

type hostileEnv struct {
	s                     *synth
	root, state, outside  string
	before, outsideBefore map[string]string
	installed             *State
}

func newHostile(t *testing.T, s *synth) *hostileEnv {
	t.Helper()
	d := t.TempDir()
	h := &hostileEnv{s: s, root: filepath.Join(d, "root"), outside: filepath.Join(d, "outside")}
	copyTree(t, s.base, h.root)
	makeTree(t, h.outside, spec{"victim": "precious", "dir/": "", "dir/f": "keep"})
	if _, err := apply(t, h.root, s.a); err != nil {
		t.Fatal(err)
	}
	h.state = filepath.Join(h.root, StateDirName)
	h.before, h.outsideBefore = snapshot(t, h.root), snapshot(t, h.outside)
	h.installed = readState(t, h.root)
	return h
}

func (h *hostileEnv) checkOutside(t *testing.T) {
	t.Helper()
	if d := sameSnapshot(h.outsideBefore, snapshot(t, h.outside)); d != "" {
		t.Fatalf("a file outside the root changed:\n%s", d)
	}
}

// removeJournal returns the journal a remove of the installed bundle writes.
func (h *hostileEnv) removeJournal(t *testing.T) *journal {
	t.Helper()
	st := h.installed
	cur := &st.Installed[0]
	steps, err := planSteps(cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := nextState(st, cur, nil)
	next.Tx = newTx()
	return &journal{Type: journalType, Tx: next.Tx, Op: "remove", Steps: steps, State: next}
}

func (h *hostileEnv) link(t *testing.T, name, to string) {
	t.Helper()
	p := filepath.Join(h.state, name)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(to, p); err != nil {
		t.Fatal(err)
	}
}

func TestHostileState(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	type tc struct {
		name  string
		plant func(t *testing.T, h *hostileEnv)
		want  string // in the error of Open
	}
	journalCase := func(name, want string, mutate func(j *journal, h *hostileEnv)) tc {
		return tc{name, func(t *testing.T, h *hostileEnv) {
			j := h.removeJournal(t)
			mutate(j, h)
			writeDoc(t, filepath.Join(h.state, journalFile), j)
		}, want}
	}
	stateCase := func(name, want string, mutate func(st *State, h *hostileEnv)) tc {
		return tc{name, func(t *testing.T, h *hostileEnv) {
			st := readState(t, h.root)
			mutate(st, h)
			writeDoc(t, filepath.Join(h.state, stateFile), st)
		}, want}
	}
	for _, c := range []tc{
		journalCase("journal step outside the root", "is not the transition's step", func(j *journal, h *hostileEnv) {
			j.Steps[0].Path = "../outside/victim"
		}),
		journalCase("journal step absolute", "is not the transition's step", func(j *journal, h *hostileEnv) {
			j.Steps[0].Path = filepath.Join(h.outside, "victim")
		}),
		journalCase("journal content not in the manifest", "is not the transition's step", func(j *journal, h *hostileEnv) {
			for i := range j.Steps {
				if to := j.Steps[i].To; to != nil && to.Type == "file" {
					to.SHA256 = strings.Repeat("ab", 32)
					return
				}
			}
		}),
		journalCase("journal mode escalation", "is not the transition's step", func(j *journal, h *hostileEnv) {
			for i := range j.Steps {
				if to := j.Steps[i].To; to != nil && to.Type == "file" {
					to.Mode = "4755"
					return
				}
			}
		}),
		journalCase("journal owner change", "is not the transition's step", func(j *journal, h *hostileEnv) {
			for i := range j.Steps {
				if j.Steps[i].Owner != nil {
					j.Steps[i].Owner = &Owner{UID: 4242}
					return
				}
			}
		}),
		journalCase("journal extra step", "steps", func(j *journal, h *hostileEnv) {
			j.Steps = append(j.Steps, step{Path: "etc/passwd", To: j.Steps[0].To})
		}),
		journalCase("journal state not the transition's", "not what the transition makes", func(j *journal, h *hostileEnv) {
			j.State.Floors["foo"] = 0
		}),
		journalCase("journal bad transaction id", "transaction id", func(j *journal, h *hostileEnv) {
			j.Tx, j.State.Tx = "../../outside", "../../outside"
		}),
		journalCase("journal wrong op", "does not match", func(j *journal, h *hostileEnv) { j.Op = "apply" }),
		stateCase("state path outside the root", "differs from the signed manifest", func(st *State, h *hostileEnv) {
			st.Installed[0].Paths[0].Path = "../outside/victim"
		}),
		stateCase("state mode escalation", "differs from the signed manifest", func(st *State, h *hostileEnv) {
			for i, c := range st.Installed[0].Paths {
				if c.Target != nil && c.Target.Type == "file" {
					st.Installed[0].Paths[i].Target.Mode = "6755"
					return
				}
			}
		}),
		stateCase("state label forged", "differs from the bundle's signed manifest", func(st *State, h *hostileEnv) {
			st.Installed[0].Label = "forged"
		}),
		stateCase("state digest without manifest", "manifests/", func(st *State, h *hostileEnv) {
			st.Installed[0].Digest = "sha256:" + strings.Repeat("0", 64)
		}),
		stateCase("state floor negative", "floor", func(st *State, h *hostileEnv) { st.Floors["foo"] = -1 }),
		{"state unknown field", func(t *testing.T, h *hostileEnv) {
			b, _ := os.ReadFile(filepath.Join(h.state, stateFile))
			os.WriteFile(filepath.Join(h.state, stateFile), []byte(strings.Replace(string(b), `"type"`, `"evil": 1, "type"`, 1)), 0o600)
		}, "unknown field"},
		{"state trailing data", func(t *testing.T, h *hostileEnv) {
			f, _ := os.OpenFile(filepath.Join(h.state, stateFile), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"type":"x"}`)
			f.Close()
		}, "trailing data"},
		{"state too large", func(t *testing.T, h *hostileEnv) {
			os.Truncate(filepath.Join(h.state, stateFile), maxStateSize+1)
		}, "larger than"},
		{"manifest tampered", func(t *testing.T, h *hostileEnv) {
			p := filepath.Join(h.state, manifestName(h.installed.Installed[0].Digest))
			os.Chmod(p, 0o600)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, append(b, ' '), 0o600)
		}, "digest is"},
		{"state.json is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, stateFile, filepath.Join(h.outside, "victim"))
		}, "is a symlink"},
		{"journal.json is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, journalFile, filepath.Join(h.outside, "victim"))
		}, "is a symlink"},
		{"lock is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, lockFile, filepath.Join(h.outside, "victim"))
		}, "is a symlink"},
		{"lock is a hard link", func(t *testing.T, h *hostileEnv) {
			os.Remove(filepath.Join(h.state, lockFile))
			if err := os.Link(filepath.Join(h.outside, "victim"), filepath.Join(h.state, lockFile)); err != nil {
				t.Fatal(err)
			}
		}, "more than one hard link"},
		{"lock is a FIFO", func(t *testing.T, h *hostileEnv) {
			os.Remove(filepath.Join(h.state, lockFile))
			if err := mkfifo(filepath.Join(h.state, lockFile)); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"objects is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, objectsDir, filepath.Join(h.outside, "dir"))
		}, "is a symlink"},
		{"staging is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, stagingDir, filepath.Join(h.outside, "dir"))
		}, "is a symlink"},
		{"manifests is a symlink", func(t *testing.T, h *hostileEnv) {
			h.link(t, manifestsDir, filepath.Join(h.outside, "dir"))
		}, "is a symlink"},
		{"state directory is a symlink", func(t *testing.T, h *hostileEnv) {
			os.RemoveAll(h.state)
			os.Symlink(filepath.Join(h.outside, "dir"), h.state)
		}, "is a symlink"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHostile(t, s)
			c.plant(t, h)
			tg, err := Open(context.Background(), h.root, &Options{LockTimeout: 1})
			if err == nil {
				tg.Close()
				t.Fatalf("hostile state accepted")
			}
			var se *StateError
			var pe *PathError
			if !errors.As(err, &se) && !errors.As(err, &pe) {
				t.Fatalf("error %v is neither a StateError nor a PathError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			h.checkOutside(t)
			if d := sameSnapshot(h.before, snapshot(t, h.root)); d != "" {
				t.Fatalf("the tree changed:\n%s", d)
			}
		})
	}
}

// TestHostileObjectsAndStaging: damaged objects are never used, planted staged files
// are never renamed into the tree.
func TestHostileObjectsAndStaging(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	objects := func(h *hostileEnv) []string {
		ents, _ := os.ReadDir(filepath.Join(h.state, objectsDir))
		var out []string
		for _, e := range ents {
			out = append(out, filepath.Join(h.state, objectsDir, e.Name()))
		}
		return out
	}
	t.Run("tampered object refuses remove", func(t *testing.T) {
		t.Parallel()
		h := newHostile(t, s)
		for _, p := range objects(h) {
			os.Chmod(p, 0o600)
			os.WriteFile(p, []byte("planted"), 0o600)
		}
		_, err := remove(t, h.root, "")
		var se *StateError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "digest differs") {
			t.Fatalf("got %v", err)
		}
		if d := sameSnapshot(h.before, snapshot(t, h.root)); d != "" {
			t.Fatalf("the tree changed:\n%s", d)
		}
		h.checkOutside(t)
	})
	t.Run("object replaced by a symlink", func(t *testing.T) {
		t.Parallel()
		h := newHostile(t, s)
		for _, p := range objects(h) {
			os.Remove(p)
			os.Symlink(filepath.Join(h.outside, "victim"), p)
		}
		if _, err := remove(t, h.root, ""); err == nil {
			t.Fatal("remove used a symlinked object")
		}
		h.checkOutside(t)
	})
	for _, kind := range []string{"symlink", "hardlink", "content"} {
		t.Run("planted staged "+kind, func(t *testing.T) {
			t.Parallel()
			h := newHostile(t, s)
			j := h.removeJournal(t)
			writeDoc(t, filepath.Join(h.state, journalFile), j)
			os.MkdirAll(filepath.Join(h.state, stagingDir, j.Tx), 0o700)
			for i, st := range j.Steps {
				if st.To == nil || st.To.Type == "dir" {
					continue
				}
				p := filepath.Join(h.state, stageName(j.Tx, i, false))
				switch kind {
				case "symlink":
					os.Symlink(filepath.Join(h.outside, "victim"), p)
				case "hardlink":
					if err := os.Link(filepath.Join(h.outside, "victim"), p); err != nil {
						t.Fatal(err)
					}
				default:
					os.WriteFile(p, []byte("planted"), 0o4755)
				}
			}
			// Recovery refuses to rename the planted files, rolls back to what the
			// state records (the installed target), and removes the plants.
			tg, err := Open(context.Background(), h.root, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := tg.Recovered
			tg.Close()
			if rec == nil || rec.Action != "rolled back" || !strings.Contains(rec.Detail, "untrusted install state") {
				t.Fatalf("recovery %+v", rec)
			}
			if d := sameSnapshot(h.before, snapshot(t, h.root)); d != "" {
				t.Fatalf("the tree changed:\n%s", d)
			}
			h.checkOutside(t)
			if ents, _ := os.ReadDir(filepath.Join(h.state, stagingDir)); len(ents) != 0 {
				t.Fatalf("staging left: %d", len(ents))
			}
		})
	}
}

// TestLinkChains: links in the tree are data. A chain a/l1 -> .., a/l2 -> l1/..
// points outside the root where a matching "base" waits; an absolute link likewise.
// apply and remove refuse the path (a parent is a symlink) and write nothing outside
// (issue 13 item 6).
func TestLinkChains(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	base, target := filepath.Join(d, "base"), filepath.Join(d, "target")
	makeTree(t, base, spec{"a/": "", "a/l2/": "", "a/l2/x": "base x", "keep": "k"})
	makeTree(t, target, spec{"a/": "", "a/l2/": "", "a/l2/x": "patched x", "keep": "k"})
	pkb := makeBundle(t, base, target, "foo", 1, nil)
	for _, c := range []struct {
		name  string
		links map[string]string // path in root → link text; the outside dir gets x
	}{
		{"chain", map[string]string{"a/l1": "..", "a/l2": "l1/.."}},
		{"absolute", map[string]string{"a/l2": "OUTSIDE"}},
		{"dotdot", map[string]string{"a/l2": "../.."}},
	} {
		for _, op := range []string{"apply", "remove"} {
			t.Run(c.name+" "+op, func(t *testing.T) {
				t.Parallel()
				dd := t.TempDir()
				root, outside := filepath.Join(dd, "root"), dd
				copyTree(t, base, root)
				if op == "remove" {
					if _, err := apply(t, root, pkb); err != nil {
						t.Fatal(err)
					}
				}
				// What a follower of links would find: a file outside with the content
				// the bundle expects.
				want := "base x"
				if op == "remove" {
					want = "patched x"
				}
				os.WriteFile(filepath.Join(outside, "x"), []byte(want), 0o644)
				os.RemoveAll(filepath.Join(root, "a/l2"))
				for p, l := range c.links {
					os.Symlink(strings.ReplaceAll(l, "OUTSIDE", outside), filepath.Join(root, p))
				}
				before := snapshot(t, outside)
				var err error
				if op == "apply" {
					_, err = apply(t, root, pkb)
				} else {
					_, err = remove(t, root, "")
				}
				var pe *PathError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), "parent a/l2 is a symlink") {
					t.Fatalf("got %v", err)
				}
				if d := sameSnapshot(before, snapshot(t, outside)); d != "" {
					t.Fatalf("outside changed:\n%s", d)
				}
			})
		}
	}
}

// TestResolvesOutside: status judges a link by resolving it through the tree's other
// links (read, never followed), so a chain that leaves the root is shown.
func TestResolvesOutside(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	makeTree(t, root, spec{"a/": "", "a/l1": "->..", "a/loop": "->loop", "a/d/": "", "top": "->a/l1/.."})
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	for _, c := range []struct {
		path, link string
		out        bool
	}{
		{"a/b", "c", false}, {"a/b", "../c", false}, {"a/b", "../../c", true}, {"a/b", "/etc", true},
		{"l", "..", true}, {"a/x", "..", false}, {"a/l2", "l1/..", true}, {"a/l2", "l1/a/d", false},
		{"x", "a/../../y", true}, {"a/x", "loop/z", false}, {"x", "top/b", true}, {"a/d/x", "../l1", false},
	} {
		if got := tg.resolvesOutside(c.path, c.link); got != c.out {
			t.Errorf("resolvesOutside(%q, %q) = %v", c.path, c.link, got)
		}
	}
}
