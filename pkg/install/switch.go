package install

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// The switch: journal, renames and removals, proof by digest, commit.

// transition moves the tree from cur's target (or, for paths cur does not touch, from
// next's base) to next's target (or, for paths next does not touch, cur's base), and
// commits st.
func (t *Target) transition(ctx context.Context, op string, cur, next *Install, pins []*bundle.File, r *bundle.Reader, st *State) (*Result, error) {
	steps, err := planSteps(cur, next)
	if err != nil {
		return nil, err
	}
	inTree := map[string]string{} // content digest → a path holding it now
	if err := t.checkTree(cur, next, pins, inTree); err != nil {
		return nil, err
	}
	if err := t.checkShape(steps); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	tx := newTx()
	if err := t.state.Mkdir(path.Join(stagingDir, tx), 0o700); err != nil {
		return nil, err
	}
	t.step("staging created")
	journaled := false
	defer func() {
		if !journaled {
			t.state.RemoveAll(path.Join(stagingDir, tx))
			t.cleanupObjects()
		}
	}()
	if err := t.stage(ctx, tx, steps, next, r, inTree); err != nil {
		return nil, err
	}

	st.Tx = tx
	j := &journal{Type: journalType, Tx: tx, Op: op, Steps: steps, State: st}
	if err := t.writeJournal(j); err != nil {
		return nil, err
	}
	journaled = true
	proven, err := t.switchTo(j, false)
	if err != nil {
		j.Rollback = true
		if jerr := t.writeJournal(j); jerr != nil {
			return nil, fmt.Errorf("%w; recording the rollback failed: %v (the next patchkit command completes or rolls back)", err, jerr)
		}
		if _, rerr := t.switchTo(j, true); rerr != nil {
			return nil, fmt.Errorf("%w; rolling back failed: %v (the journal is kept: the next patchkit command retries)", err, rerr)
		}
		if cerr := t.finish(); cerr != nil {
			return nil, fmt.Errorf("%w (rolled back; cleaning up: %v)", err, cerr)
		}
		return nil, fmt.Errorf("%w (rolled back: the tree is unchanged)", err)
	}
	if err := t.saveState(st); err != nil {
		return nil, err
	}
	t.step("state committed")
	if err := t.finish(); err != nil {
		return nil, err
	}
	return &Result{Type: ResultType, Op: op, Changed: len(steps), Proven: proven}, nil
}

// finish removes the journal, then staging and unneeded objects.
func (t *Target) finish() error {
	if err := t.removeJournal(); err != nil {
		return err
	}
	return t.cleanup()
}

func (t *Target) cleanupObjects() {
	if j, _ := t.readJournal(); j == nil {
		t.cleanup()
	}
}

func newTx() string {
	var b [8]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// checkStaged refuses a staged node that is not exactly want with the step's owner: the
// staging area is input too (a planted file, a link, a hard link to a file elsewhere).
// Without full, file content is not hashed again (it was, before the switch began).
func (t *Target) checkStaged(name string, want *bundle.Node, owner *Owner, full bool) error {
	st, ok, err := t.state.Lstat(name)
	switch {
	case err != nil:
	case !ok:
		err = errors.New("missing")
	case typeOf(st) != want.Type:
		err = fmt.Errorf("want a %s, found a %s", want.Type, typeOf(st))
	case st.Mode&unix.S_IFMT == unix.S_IFREG && (st.Nlink != 1 || st.Size != want.Size):
		err = fmt.Errorf("has %d hard links and %d bytes", st.Nlink, st.Size)
	case owner != nil && (st.Uid != owner.UID || st.Gid != owner.GID):
		err = fmt.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, owner.UID, owner.GID)
	case full || want.Type == bundle.TypeSymlink:
		var have *bundle.Node
		if have, err = node(t.state, name); err == nil && !sameNode(have, want) {
			err = mismatch(have, want)
		}
	}
	if err != nil {
		return &StateError{File: name, Err: err}
	}
	return nil
}

// switchTo moves every path of j to its To node (or, rolling back, its From node),
// then proves each by digest and owner. Every step checks the tree first, so running
// it again after an interruption finishes the job.
func (t *Target) switchTo(j *journal, rollback bool) (int, error) {
	want := func(s *step) *bundle.Node {
		if rollback {
			return s.From
		}
		return s.To
	}
	stageOf := make([]string, len(j.Steps))
	for i := range j.Steps {
		s := &j.Steps[i]
		if w := want(s); w == nil || w.Type == bundle.TypeDir {
			continue
		}
		stageOf[i] = stageName(j.Tx, i, false)
		if !rollback {
			continue
		}
		// Stage the old node afresh from the object store.
		stageOf[i] = stageName(j.Tx, i, true)
		if have, err := node(t.root, s.Path); err == nil && sameNode(have, s.From) && t.ownedBy(s.Path, s.Owner) {
			stageOf[i] = ""
			continue
		}
		if err := t.state.Mkdir(path.Join(stagingDir, j.Tx), 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, err
		}
		if err := t.stageNode(stageOf[i], s.From, s.Owner, func(sha string) (*os.File, error) { return t.content(sha, nil) }); err != nil {
			return 0, fmt.Errorf("staging %s for rollback: %w", s.Path, err)
		}
	}
	// Every staged node still there must be exactly what it stands for, before the
	// tree is touched.
	for i := range j.Steps {
		if stageOf[i] == "" {
			continue
		}
		if _, ok, err := t.state.Lstat(stageOf[i]); err == nil && !ok {
			continue // renamed already
		}
		if err := t.checkStaged(stageOf[i], want(&j.Steps[i]), j.Steps[i].Owner, true); err != nil {
			return 0, err
		}
	}
	// Removals and type changes, children first.
	for i := len(j.Steps) - 1; i >= 0; i-- {
		s := &j.Steps[i]
		w := want(s)
		st, ok, err := t.root.Lstat(s.Path)
		if err != nil {
			return 0, err
		}
		if !ok || (w != nil && typeOf(st) == w.Type) {
			continue
		}
		if err := t.root.Remove(s.Path, typeOf(st) == bundle.TypeDir); err != nil {
			return 0, err
		}
		t.step("removed " + s.Path)
	}
	// Creations and replacements, parents first.
	for i := range j.Steps {
		s := &j.Steps[i]
		w := want(s)
		if w == nil {
			continue
		}
		if w.Type == bundle.TypeDir {
			st, ok, err := t.root.Lstat(s.Path)
			if err != nil {
				return 0, err
			}
			if !ok || typeOf(st) != bundle.TypeDir {
				if err := t.root.Mkdir(s.Path, 0o700); err != nil {
					return 0, err
				}
				if s.Owner != nil {
					if err := t.root.Lchown(s.Path, int(s.Owner.UID), int(s.Owner.GID)); err != nil {
						return 0, err
					}
				}
				t.step("mkdir " + s.Path)
			}
			continue
		}
		if stageOf[i] == "" {
			continue
		}
		if _, ok, err := t.state.Lstat(stageOf[i]); err != nil || !ok {
			continue // renamed already
		}
		if err := t.checkStaged(stageOf[i], w, s.Owner, false); err != nil {
			return 0, err
		}
		if failPath != "" && s.Path == failPath && !rollback {
			return 0, fmt.Errorf("renaming %s: %w", s.Path, unix.EIO)
		}
		if err := rename(t.state, stageOf[i], t.root, s.Path); err != nil {
			return 0, err
		}
		t.step("renamed " + s.Path)
	}
	// Directory modes, children first (a read-only directory is finished last).
	for i := len(j.Steps) - 1; i >= 0; i-- {
		s := &j.Steps[i]
		w := want(s)
		if w == nil || w.Type != bundle.TypeDir {
			continue
		}
		st, _, err := t.root.Lstat(s.Path)
		if err != nil {
			return 0, err
		}
		if bundle.FormatMode(st.Mode&0o7777) == w.Mode {
			continue
		}
		mode, _ := bundle.ParseMode(w.Mode)
		if err := t.root.Chmod(s.Path, mode); err != nil {
			return 0, err
		}
		t.step("chmod " + s.Path)
	}
	// Make it durable, then prove it.
	dirs := map[string]bool{"": true}
	for _, s := range j.Steps {
		if d := path.Dir(s.Path); d != "." {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if d != "" {
			if st, ok, err := t.root.Lstat(d); err != nil || !ok || typeOf(st) != bundle.TypeDir {
				continue // the dir was removed: its parent is synced
			}
		}
		if err := t.root.SyncDir(d); err != nil {
			return 0, err
		}
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		have, err := node(t.root, s.Path)
		if err == nil && !sameNode(have, want(s)) {
			err = mismatch(have, want(s))
		}
		if err == nil && want(s) != nil && !t.ownedBy(s.Path, s.Owner) {
			err = errors.New("owner differs")
		}
		if err != nil {
			return 0, fmt.Errorf("proving %s after the switch: %w", s.Path, err)
		}
	}
	return len(j.Steps), nil
}

// ownedBy reports whether p has owner o (any owner when o is nil).
func (t *Target) ownedBy(p string, o *Owner) bool {
	if o == nil {
		return true
	}
	st, ok, err := t.root.Lstat(p)
	return err == nil && ok && st.Uid == o.UID && st.Gid == o.GID
}
