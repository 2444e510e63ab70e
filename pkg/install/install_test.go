package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
)

type synth struct {
	base, target, target2 string
	a, b                  []byte // base→target (seq 1), base→target2 (seq 2)
}

func newSynth(t testing.TB) *synth {
	t.Helper()
	d := t.TempDir()
	s := &synth{base: filepath.Join(d, "base"), target: filepath.Join(d, "target"), target2: filepath.Join(d, "target2")}
	makeTree(t, s.base, synthBase)
	makeTree(t, s.target, synthTarget)
	makeTree(t, s.target2, synthTarget2)
	pin := func(o *bundle.CreateOptions) { o.PinUnchanged = true }
	s.a = makeBundle(t, s.base, s.target, "foo", 1, pin)
	s.b = makeBundle(t, s.base, s.target2, "foo", 2, pin)
	return s
}

func (s *synth) root(t *testing.T) string {
	t.Helper()
	r := filepath.Join(t.TempDir(), "root")
	copyTree(t, s.base, r)
	return r
}

func wantTree(t *testing.T, root, want string) {
	t.Helper()
	if d := sameSnapshot(snapshot(t, want), snapshot(t, root)); d != "" {
		t.Fatalf("tree differs from %s:\n%s", filepath.Base(want), d)
	}
}

func TestApplyRemove(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	res, err := apply(t, root, s.a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Op != "apply" || res.Changed == 0 || res.Proven != res.Changed {
		t.Fatalf("result %+v", res)
	}
	wantTree(t, root, s.target)
	st := readState(t, root)
	if len(st.Installed) != 1 || st.Floors["foo"] != 1 {
		t.Fatalf("state %+v", st)
	}
	// Applying again is a no-op.
	if res, err := apply(t, root, s.a); err != nil || res.Op != "none" {
		t.Fatalf("re-apply: %+v, %v", res, err)
	}
	if _, err := remove(t, root, ""); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, s.base)
	st = readState(t, root)
	if len(st.Installed) != 0 || st.Floors["foo"] != 1 {
		t.Fatalf("state after remove %+v", st)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, StateDirName, objectsDir)); len(ents) != 0 {
		t.Fatalf("objects left after remove: %d", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(root, StateDirName, stagingDir)); len(ents) != 0 {
		t.Fatalf("staging left: %d", len(ents))
	}
}

func TestSupersede(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	if _, err := apply(t, root, s.a); err != nil {
		t.Fatal(err)
	}
	res, err := apply(t, root, s.b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Op != "supersede" || res.Superseded == nil {
		t.Fatalf("result %+v", res)
	}
	wantTree(t, root, s.target2)
	st := readState(t, root)
	if len(st.Installed) != 1 || st.Installed[0].Sequence != 2 || st.Floors["foo"] != 2 {
		t.Fatalf("state %+v", st)
	}
	// (a) is older than the floor now.
	if _, err := apply(t, root, s.a); err == nil || !strings.Contains(err.Error(), "floor") {
		t.Fatalf("older bundle: %v", err)
	}
	wantTree(t, root, s.target2)
	if _, err := remove(t, root, ""); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, s.base)
}

// TestSupersedeBack supersedes (b) by a newer bundle whose content is (a)'s.
func TestSupersedeBack(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	a3 := makeBundle(t, s.base, s.target, "foo", 3, nil)
	if _, err := apply(t, root, s.b); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, root, a3); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, s.target)
	if _, err := remove(t, root, "foo-3"); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, s.base)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	type fault struct {
		name   string
		damage func(root string)
		want   string
	}
	for _, f := range []fault{
		{"modified", func(r string) { os.WriteFile(filepath.Join(r, "bin/tool"), []byte("local edit"), 0o755) }, "base mismatch at bin/tool: content digest differs"},
		{"missing", func(r string) { os.Remove(filepath.Join(r, "share/doc")) }, "base mismatch at share/doc: missing"},
		{"mode", func(r string) { os.Chmod(filepath.Join(r, "share/doc"), 0o600) }, "base mismatch at share/doc: mode 0600, want 0644"},
		{"pinned", func(r string) { os.WriteFile(filepath.Join(r, "share/pinned.txt"), []byte("x"), 0o644) }, "base mismatch at share/pinned.txt"},
		{"untracked in deleted dir", func(r string) { os.WriteFile(filepath.Join(r, "lib/plugins/c.so"), nil, 0o644) }, "holds c.so"},
		{"add over existing", func(r string) { os.WriteFile(filepath.Join(r, "lib/libfoo.so.2"), nil, 0o644) }, "lib/libfoo.so.2: exists"},
		{"symlinked parent", func(r string) {
			os.Rename(filepath.Join(r, "share"), filepath.Join(r, "share.real"))
			os.Symlink("share.real", filepath.Join(r, "share"))
		}, "parent share is a symlink"},
		{"symlink escape", func(r string) {
			out := filepath.Join(filepath.Dir(r), "outside")
			copyTree(t, filepath.Join(r, "bin"), out)
			os.RemoveAll(filepath.Join(r, "bin"))
			os.Symlink("../outside", filepath.Join(r, "bin"))
		}, "parent bin is a symlink"},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			root := s.root(t)
			f.damage(root)
			before := snapshot(t, root)
			_, err := apply(t, root, s.a)
			if err == nil || !strings.Contains(err.Error(), f.want) {
				t.Fatalf("got %v, want %q", err, f.want)
			}
			if d := sameSnapshot(before, snapshot(t, root)); d != "" {
				t.Fatalf("tree changed:\n%s", d)
			}
			// A refused apply leaves no state directory behind (issue 13 item 10).
			if _, err := os.Lstat(filepath.Join(root, StateDirName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left behind: %v", StateDirName, err)
			}
		})
	}
}

func TestWrongComponentAndBase(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	// A bundle for another base: target2 → target.
	other := makeBundle(t, s.target2, s.target, "foo", 5, nil)
	if _, err := apply(t, root, other); err == nil || !strings.Contains(err.Error(), "base mismatch") {
		t.Fatalf("other base: %v", err)
	}
	wantTree(t, root, s.base)
	// A verification that refuses the component stops everything before the tree.
	r, _ := bundle.NewReader(bytes.NewReader(s.a))
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	deny := func(context.Context, []byte, []bundle.Signature, map[string]int64, *Recall) error {
		return errors.New("component \"foo\" is not allowed by the policy")
	}
	if _, err := tg.Apply(context.Background(), r, deny); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("deny: %v", err)
	}
	if _, err := tg.Apply(context.Background(), r, nil); err == nil {
		t.Fatal("Apply without verification succeeded")
	}
	wantTree(t, root, s.base)
}

func TestDiskFull(t *testing.T) {
	s := newSynth(t)
	root := s.root(t)
	before := snapshot(t, root)
	stageLimit, stagedBytes = 3000, 0
	defer func() { stageLimit, stagedBytes = 0, 0 }()
	_, err := apply(t, root, s.a)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("got %v", err)
	}
	if d := sameSnapshot(before, snapshot(t, root)); d != "" {
		t.Fatalf("tree changed:\n%s", d)
	}
	for _, d := range []string{objectsDir, stagingDir} {
		if ents, _ := os.ReadDir(filepath.Join(root, StateDirName, d)); len(ents) != 0 {
			t.Fatalf("%s left: %d", d, len(ents))
		}
	}
	if _, err := os.Stat(filepath.Join(root, StateDirName, journalFile)); err == nil {
		t.Fatal("journal left")
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), root, &Options{LockTimeout: 100e6})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	tg.Close()
	tg, err = Open(context.Background(), root, &Options{LockTimeout: 100e6})
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
}

func TestStateDirInBundleRefused(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	makeTree(t, filepath.Join(d, "b"), spec{"x": "1"})
	makeTree(t, filepath.Join(d, "t"), spec{"x": "1", ".patchkit/": "", ".patchkit/state.json": "{}"})
	pkb := makeBundle(t, filepath.Join(d, "b"), filepath.Join(d, "t"), "foo", 1, nil)
	root := filepath.Join(d, "root")
	makeTree(t, root, spec{"x": "1"})
	if _, err := apply(t, root, pkb); err == nil || !strings.Contains(err.Error(), "state directory") {
		t.Fatalf("got %v", err)
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	if _, err := apply(t, root, s.a); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "share/doc"), []byte("edited"), 0o644)
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	dr := tg.Check()
	tg.Close()
	if len(dr) != 1 || dr[0].Path != "share/doc" {
		t.Fatalf("drift %+v", dr)
	}
	if _, err := remove(t, root, ""); err == nil || !strings.Contains(err.Error(), "no longer matches") {
		t.Fatalf("remove over drift: %v", err)
	}
}

// TestRollback makes the switch fail halfway: the live apply rolls back to the exact
// base; a rollback interrupted by a crash is finished by the next Open.
func TestRollback(t *testing.T) {
	s := newSynth(t)
	root := s.root(t)
	failPath = "share/doc"
	defer func() { failPath = "" }()
	_, err := apply(t, root, s.a)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v", err)
	}
	wantTree(t, root, s.base)
	if _, err := os.Lstat(filepath.Join(root, StateDirName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state directory left after a rolled back first apply: %v", err)
	}
	// A journal marked for rollback, as a crash during the rollback leaves it.
	failPath = ""
	if _, err := apply(t, root, s.a); err != nil {
		t.Fatal(err)
	}
	wantTree(t, root, s.target)
	// The journal of that apply, marked for rollback, over the state before it: as a
	// crash during the rollback of a failed switch leaves them.
	st := readState(t, root)
	steps, err := planSteps(nil, &st.Installed[0])
	if err != nil {
		t.Fatal(err)
	}
	j := &journal{Type: journalType, Tx: st.Tx, Op: "apply", Rollback: true, Steps: steps, State: st}
	writeDoc(t, filepath.Join(root, StateDirName, journalFile), j)
	writeDoc(t, filepath.Join(root, StateDirName, stateFile), newState())
	// Open rolls the tree back to each From, here the base, from the object store.
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Recovered == nil || tg.Recovered.Action != "rolled back" {
		t.Fatalf("recovered %+v", tg.Recovered)
	}
	tg.Close()
	wantTree(t, root, s.base)
}

func TestRetire(t *testing.T) {
	t.Parallel()
	s := newSynth(t)
	root := s.root(t)
	if _, err := apply(t, root, s.a); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Retire(context.Background(), "", ""); err == nil {
		t.Fatal("retire without a release name accepted")
	}
	if _, err := tg.Retire(context.Background(), "", "1.1\u202e"); err == nil {
		t.Fatal("retire with a bidi override accepted")
	}
	res, err := tg.Retire(context.Background(), "foo-1", "1.1-1")
	tg.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Op != "retire" || res.FoldedInto != "1.1-1" || res.ID != "foo-1" {
		t.Fatalf("result %+v", res)
	}
	if d := sameSnapshot(before, snapshot(t, root)); d != "" {
		t.Fatalf("retire touched the tree:\n%s", d)
	}
	st := readState(t, root)
	if len(st.Installed) != 0 || len(st.Retired) != 1 || st.Retired[0].FoldedInto != "1.1-1" || st.Floors["foo"] != 1 {
		t.Fatalf("state %+v", st)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, StateDirName, objectsDir)); len(ents) != 0 {
		t.Fatalf("objects left after retire: %d", len(ents))
	}
}
