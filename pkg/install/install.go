// Package install applies, removes and audits patchkit bundles on a target tree.
//
// # Transitions
//
// Every change to the tree is a transition from one recorded state to another: apply
// (base → target), supersede (installed (a)'s target → (b)'s target, one transition),
// remove (target → base). A transition runs in this order:
//
//  1. verify: the caller's [VerifyFunc] checks signatures, policy, expiry, recall and the
//     sequence floor recorded in the state; nothing happens before it passes;
//  2. check: every path the transition touches is compared with what it must be now
//     (type, mode, symlink text, size and SHA-256); parents must be real directories,
//     never symlinks (see [PathError]);
//  3. stage: every new file is decoded and digest-checked, and every new symlink made, in
//     the state directory's staging area on the same filesystem; the content of every
//     file the transition overwrites or deletes goes to the object store;
//  4. journal: the list of steps and the state to commit are written and synced;
//  5. switch: renames and removals, children before parents when deleting, parents
//     before children when creating, directory modes last; then every path is proven
//     by digest;
//  6. commit: the new state is written atomically (the commit point), the journal is
//     removed and unneeded staging and objects are deleted.
//
// # Recovery
//
// [Open] takes the lock and looks for a journal. With none, leftovers of an
// interrupted staging are deleted: the tree was never touched. With one whose
// transition the state already records, only the cleanup is redone. Otherwise the
// switch is completed (each step is idempotent: a staged file still present has not
// been renamed yet), or, if completing fails or a rollback had begun, rolled back to
// the recorded state from the object store. Either way the tree ends exactly at the
// old or the new state, proven by digest, and the state says which.
package install

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// StateDirName is the default state directory below the target root.
const StateDirName = ".patchkit"

// Options configure [Open].
type Options struct {
	StateDir    string        // default ROOT/.patchkit; must be on the root's filesystem
	LockTimeout time.Duration // how long to wait for another operation; default 10s
	Now         func() time.Time
	// NoCreate makes Open fail with [ErrNoState] instead of creating the state directory.
	NoCreate bool
}

// ErrNoState is returned by [Open] with NoCreate when there is no state directory.
var ErrNoState = errors.New("no patchkit state")

// VerifyFunc decides whether a bundle may be installed: signatures, policy, expiry,
// recall and sequence floors. floors are the target's own anti-rollback floors and
// recall the newest recall list it has seen (nil if none).
type VerifyFunc func(ctx context.Context, manifest []byte, sigs []bundle.Signature, floors map[string]int64, recall *Recall) error

// Target is an open target tree with its state, locked for one operation.
type Target struct {
	rootDir  string
	stateDir string
	root     *tree
	state    *tree
	lockFile *os.File
	st       *State
	now      func() time.Time
	// Recovered says what Open did about an unfinished transition, or nil.
	Recovered *Recovery
}

// Open opens the target tree root, locks its state and recovers an unfinished
// transition.
func Open(ctx context.Context, root string, o *Options) (*Target, error) {
	if o == nil {
		o = &Options{}
	}
	t := &Target{rootDir: root, stateDir: o.StateDir, now: o.Now}
	if t.now == nil {
		t.now = time.Now
	}
	if t.stateDir == "" {
		t.stateDir = filepath.Join(root, StateDirName)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	sfi, err := os.Lstat(t.stateDir)
	switch {
	case errors.Is(err, os.ErrNotExist) && o.NoCreate:
		return nil, ErrNoState
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(t.stateDir, 0o700); err != nil {
			return nil, err
		}
		if sfi, err = os.Lstat(t.stateDir); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if !sfi.IsDir() {
		return nil, fmt.Errorf("state directory %s is not a directory (a symlink?)", t.stateDir)
	}
	if dev(fi) != dev(sfi) {
		return nil, fmt.Errorf("state directory %s is not on the filesystem of %s: staged files could not be renamed into place", t.stateDir, root)
	}
	for _, d := range []string{objectsDir, stagingDir} {
		if err := os.Mkdir(filepath.Join(t.stateDir, d), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	timeout := o.LockTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if err := t.lock(timeout); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			t.Close()
		}
	}()
	if t.root, err = openTree(root); err != nil {
		return nil, err
	}
	if t.state, err = openTree(t.stateDir); err != nil {
		return nil, err
	}
	if err := t.loadState(); err != nil {
		return nil, err
	}
	if err := t.recover(); err != nil {
		return nil, err
	}
	ok = true
	return t, nil
}

func dev(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// Close releases the lock.
func (t *Target) Close() error {
	if t.root != nil {
		t.root.close()
	}
	if t.state != nil {
		t.state.close()
	}
	if t.lockFile != nil {
		t.lockFile.Close()
	}
	return nil
}

// State returns the committed state.
func (t *Target) State() *State { return t.st }

// StateDir returns the state directory.
func (t *Target) StateDir() string { return t.stateDir }

// Result describes a finished transition.
type Result struct {
	Type       string   `json:"type"`
	Op         string   `json:"op"` // apply, supersede, remove, retire, none
	Digest     string   `json:"digest"`
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Sequence   int64    `json:"sequence"`
	Superseded *Install `json:"superseded,omitempty"`
	FoldedInto string   `json:"folded_into,omitempty"` // retire: the release that folded the bundle in
	Changed    int      `json:"changed"`               // paths switched
	Proven     int      `json:"proven"`                // paths checked by digest after the switch
}

// ResultType is the type field of a [Result].
const ResultType = "patchkit.install/v1"

// Apply verifies the bundle read by r with verify, checks the tree and installs the
// bundle, superseding an installed bundle of the same component in one transition.
func (t *Target) Apply(ctx context.Context, r *bundle.Reader, verify VerifyFunc) (*Result, error) {
	if verify == nil {
		return nil, errors.New("install: no verification function: refusing to install unverified content")
	}
	m := r.Manifest()
	digest := r.Digest()
	for _, in := range t.st.Installed {
		if in.Digest == digest {
			return &Result{Type: ResultType, Op: "none", Digest: digest, ID: m.ID, Label: m.Label, Sequence: m.Sequence}, nil
		}
	}
	if err := verify(ctx, r.ManifestBytes(), r.Signatures(), copyFloors(t.st.Floors), t.st.Recall); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		if first, _, _ := strings.Cut(f.Path, "/"); first == StateDirName {
			return nil, &PathError{Path: f.Path, Err: errors.New("the bundle writes into the patchkit state directory")}
		}
	}
	// The installed bundle sharing a component with this one is superseded; others
	// must not touch the same paths.
	var cur *Install
	curIdx := -1
	for i := range t.st.Installed {
		in := &t.st.Installed[i]
		if sharesComponent(in, m) {
			if cur != nil {
				return nil, fmt.Errorf("bundles %s and %s are both installed for the components of %s", cur.ID, in.ID, m.ID)
			}
			cur, curIdx = in, i
		}
	}
	next := &Install{Digest: digest, ID: m.ID, Label: m.Label, Sequence: m.Sequence, Components: m.Components,
		Advisories: m.Advisories, Activation: m.Activation, InstalledAt: t.now().UTC().Format(time.RFC3339)}
	files := map[string]*bundle.File{}
	var pins []*bundle.File
	for i := range m.Files {
		f := &m.Files[i]
		files[f.Path] = f
		if f.Op == bundle.OpPin {
			pins = append(pins, f)
			continue
		}
		next.Paths = append(next.Paths, Change{Path: f.Path, Base: f.Base, Target: f.Target})
	}
	for i, in := range t.st.Installed {
		if i == curIdx {
			continue
		}
		for _, c := range in.Paths {
			if _, ok := files[c.Path]; ok {
				return nil, fmt.Errorf("%s: also changed by installed bundle %s", c.Path, in.ID)
			}
		}
	}
	op := "apply"
	if cur != nil {
		op = "supersede"
		next.Superseded = cur.Digest
	}
	st := cloneState(t.st)
	if curIdx >= 0 {
		st.Installed = append(st.Installed[:curIdx:curIdx], st.Installed[curIdx+1:]...)
	}
	st.Installed = append(st.Installed, *next)
	for _, c := range m.Components {
		st.Floors[c.Name] = max(st.Floors[c.Name], m.Sequence)
	}
	res, err := t.transition(ctx, op, cur, next, pins, files, r, st)
	if err != nil {
		return nil, err
	}
	res.Digest, res.ID, res.Label, res.Sequence, res.Superseded = digest, m.ID, m.Label, m.Sequence, cur
	return res, nil
}

func sharesComponent(in *Install, m *bundle.Manifest) bool {
	for _, c := range in.Components {
		if m.Component(c.Name) != nil {
			return true
		}
	}
	return false
}

func copyFloors(f map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

func cloneState(s *State) *State {
	c := *s
	c.Installed = append([]Install(nil), s.Installed...)
	c.Floors = copyFloors(s.Floors)
	c.LastRecovery = nil
	return &c
}

// Find returns the installed bundle named by ref: its digest, a unique digest prefix
// or its id; with ref "" the only installed bundle.
func (t *Target) Find(ref string) (*Install, error) {
	var found []*Install
	for i := range t.st.Installed {
		in := &t.st.Installed[i]
		if ref == "" || in.Digest == ref || in.ID == ref || (len(ref) >= 8 && strings.HasPrefix(strings.TrimPrefix(in.Digest, "sha256:"), strings.TrimPrefix(ref, "sha256:"))) {
			found = append(found, in)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(t.st.Installed) == 0:
		return nil, errors.New("no bundle is installed")
	case len(found) == 0:
		return nil, fmt.Errorf("no installed bundle matches %q", ref)
	case ref == "":
		return nil, fmt.Errorf("%d bundles are installed: name one (digest or id)", len(found))
	}
	return nil, fmt.Errorf("%q matches %d installed bundles", ref, len(found))
}

// Remove restores the base of the installed bundle named by ref (see [Target.Find]) bit
// for bit and proves it by digest. Floors stay: the removed sequence cannot be replaced
// by an older one.
func (t *Target) Remove(ctx context.Context, ref string) (*Result, error) {
	cur, err := t.Find(ref)
	if err != nil {
		return nil, err
	}
	st := cloneState(t.st)
	st.Installed = st.Installed[:0]
	for _, in := range t.st.Installed {
		if in.Digest != cur.Digest {
			st.Installed = append(st.Installed, in)
		}
	}
	res, err := t.transition(ctx, "remove", cur, nil, nil, nil, nil, st)
	if err != nil {
		return nil, err
	}
	res.Digest, res.ID, res.Label, res.Sequence = cur.Digest, cur.ID, cur.Label, cur.Sequence
	return res, nil
}

// SetRecall records rc as the newest recall list seen, if it is newer than the one
// recorded.
func (t *Target) SetRecall(rc *Recall) error {
	if rc == nil || (t.st.Recall != nil && t.st.Recall.Sequence >= rc.Sequence) {
		return nil
	}
	st := cloneState(t.st)
	st.LastRecovery = t.st.LastRecovery
	st.Recall = rc
	return t.saveState(st)
}

// Recalled returns the installed bundles the recorded recall list names.
func (t *Target) Recalled() []Install {
	var out []Install
	if t.st.Recall == nil {
		return nil
	}
	for _, in := range t.st.Installed {
		if _, ok := t.st.Recall.Entries[in.Digest]; ok {
			out = append(out, in)
		}
	}
	return out
}

// Drift is a path whose content no longer matches what the state records.
type Drift struct {
	Bundle string `json:"bundle"`
	Path   string `json:"path"`
	Error  string `json:"error"`
}

// Check compares every path of every installed bundle with the tree.
func (t *Target) Check() []Drift {
	var out []Drift
	for _, in := range t.st.Installed {
		for _, c := range in.Paths {
			have, err := t.root.node(c.Path)
			if err == nil && !sameNode(have, c.Target) {
				err = mismatch(have, c.Target)
			}
			if err != nil {
				out = append(out, Drift{Bundle: in.Digest, Path: c.Path, Error: err.Error()})
			}
		}
	}
	return out
}

// transition moves the tree from cur's target (or, for paths cur does not touch, from
// next's base) to next's target (or, for paths next does not touch, cur's base).
func (t *Target) transition(ctx context.Context, op string, cur, next *Install, pins []*bundle.File, files map[string]*bundle.File, r *bundle.Reader, st *State) (*Result, error) {
	pairs := map[string]*pair{}
	if cur != nil {
		for i := range cur.Paths {
			pairs[cur.Paths[i].Path] = &pair{cur: &cur.Paths[i]}
		}
	}
	if next != nil {
		for i := range next.Paths {
			c := &next.Paths[i]
			if p, ok := pairs[c.Path]; ok {
				p.next = c
			} else {
				pairs[c.Path] = &pair{next: c}
			}
		}
	}
	paths := make([]string, 0, len(pairs))
	for p := range pairs {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	// Check: every path must be what the transition starts from.
	var steps []step
	inTree := map[string]string{} // content digest → a path holding it now
	for _, p := range pins {
		if pr, ok := pairs[p.Path]; ok {
			// cur changed a path next pins: it is restored to the base next pins.
			if !sameNode(pr.cur.Base, p.Base) {
				return nil, &bundle.BaseError{Path: p.Path, Err: fmt.Errorf("the bundle pins %s, the base recorded by %s had %s", describe(p.Base), cur.ID, describe(pr.cur.Base))}
			}
			continue
		}
		if err := t.expect(p.Path, p.Base, inTree, nil); err != nil {
			return nil, err
		}
	}
	for _, p := range paths {
		pr := pairs[p]
		var from, to *bundle.Node
		if pr.cur != nil {
			from = pr.cur.Target
		} else {
			from = pr.next.Base
		}
		if pr.next != nil {
			to = pr.next.Target
			if pr.cur != nil && !sameNode(pr.cur.Base, pr.next.Base) {
				return nil, &bundle.BaseError{Path: p, Err: fmt.Errorf("the bundle's base is %s, the base recorded by %s had %s", describe(pr.next.Base), cur.ID, describe(pr.cur.Base))}
			}
		} else {
			to = pr.cur.Base
		}
		if err := t.expect(p, from, inTree, pairs); err != nil {
			if pr.cur != nil {
				return nil, fmt.Errorf("the tree no longer matches installed bundle %s: %w", cur.ID, err)
			}
			return nil, err
		}
		if !sameNode(from, to) {
			steps = append(steps, step{Path: p, From: from, To: to})
		}
	}
	if err := t.checkShape(steps); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Stage.
	tx := newTx()
	stage := path.Join(stagingDir, tx)
	if err := t.state.mkdir(stage, 0o700); err != nil {
		return nil, err
	}
	t.step("staging created")
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(filepath.Join(t.stateDir, stage))
			t.cleanupObjects()
		}
	}()
	var src contentSource = func(sha string) (*os.File, error) { return t.content(sha, inTree) }
	// Keep what a rollback or a later remove needs: every file this transition
	// overwrites or deletes, and every base file of next.
	keep := map[string]bool{}
	for _, s := range steps {
		if s.From != nil && s.From.Type == bundle.TypeFile {
			keep[s.From.SHA256] = true
		}
	}
	if next != nil {
		for _, c := range next.Paths {
			if c.Base != nil && c.Base.Type == bundle.TypeFile {
				keep[c.Base.SHA256] = true
			}
		}
	}
	if err := t.keepObjects(ctx, keep, src); err != nil {
		return nil, err
	}
	stageIdx := map[string]int{}
	for i := range steps {
		stageIdx[steps[i].Path] = i
	}
	// Payloads come in manifest order; decode each into its staged file.
	if r != nil {
		for {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			i, ok := stageIdx[e.File.Path]
			if !ok || !sameNode(steps[i].To, e.File.Target) {
				// Not switched (same as now): the payload is still read and checked.
				if _, err := io.Copy(io.Discard, e); err != nil {
					return nil, err
				}
				continue
			}
			s := &steps[i]
			s.Stage = path.Join(stage, fmt.Sprintf("f%d", i))
			if err := t.stageEntry(e, s, src); err != nil {
				return nil, err
			}
		}
	}
	for i := range steps {
		s := &steps[i]
		if s.To == nil || s.To.Type == bundle.TypeDir || s.Stage != "" {
			continue
		}
		s.Stage = path.Join(stage, fmt.Sprintf("f%d", i))
		if err := t.stageNode(s.Stage, s.To, src); err != nil {
			return nil, fmt.Errorf("staging %s: %w", s.Path, err)
		}
	}
	if err := t.state.syncDir(stage); err != nil {
		return nil, err
	}

	// Journal, switch, commit.
	st.Tx = tx
	j := &journal{Type: journalType, Tx: tx, Op: op, Steps: steps, State: st}
	if err := t.writeJournal(j); err != nil {
		return nil, err
	}
	ok = true
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

type pair struct{ cur, next *Change }

// expect checks that path p holds want now, and notes where file contents are found.
func (t *Target) expect(p string, want *bundle.Node, inTree map[string]string, changed map[string]*pair) error {
	have, err := t.root.node(p)
	if err != nil && want == nil {
		// Absent as it should be if an ancestor is not a directory now: the
		// transition changes that ancestor (checkShape makes sure of the rest).
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := changed[d]; ok {
				return nil
			}
		}
	}
	if err != nil {
		var pe *PathError
		if errors.As(err, &pe) {
			return err
		}
		return &bundle.BaseError{Path: p, Err: err}
	}
	if !sameNode(have, want) {
		return &bundle.BaseError{Path: p, Err: mismatch(have, want)}
	}
	if have != nil && have.Type == bundle.TypeFile {
		inTree[have.SHA256] = p
	}
	return nil
}

// checkShape refuses transitions that cannot be done with the tree as it is: a
// directory to delete holding paths the transition does not delete, a parent that is
// neither a directory now nor created by the transition, a directory without write
// permission.
func (t *Target) checkShape(steps []step) error {
	byPath := map[string]*step{}
	for i := range steps {
		byPath[steps[i].Path] = &steps[i]
	}
	checked := map[string]bool{}
	for _, s := range steps {
		if s.From != nil && s.From.Type == bundle.TypeDir && (s.To == nil || s.To.Type != bundle.TypeDir) {
			names, err := t.root.readDir(s.Path)
			if err != nil {
				return err
			}
			for _, n := range names {
				c, ok := byPath[s.Path+"/"+n]
				if !ok || c.To != nil {
					return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("directory to remove holds %s, which the bundle does not remove", n)}
				}
			}
		}
		dir := path.Dir(s.Path)
		for dir != "." && !checked[dir] {
			checked[dir] = true
			if d, ok := byPath[dir]; ok {
				if s.To != nil && (d.To == nil || d.To.Type != bundle.TypeDir) {
					return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("parent %s is not a directory in the target", dir)}
				}
				dir = path.Dir(dir)
				continue
			}
			st, ok, err := t.root.lstat(dir)
			if err != nil {
				return err
			}
			if !ok || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("parent %s is missing or not a directory", dir)}
			}
			if err := t.root.writable(dir); err != nil {
				return err
			}
			dir = path.Dir(dir)
		}
		if path.Dir(s.Path) == "." && !checked["."] {
			checked["."] = true
			if err := t.root.writable(""); err != nil {
				return err
			}
		}
	}
	return nil
}

// contentSource opens a file with the given content digest, from the object store or
// the tree.
type contentSource func(sha string) (*os.File, error)

func (t *Target) content(sha string, inTree map[string]string) (*os.File, error) {
	f, err := t.state.open(path.Join(objectsDir, sha))
	if err == nil {
		return f, nil
	}
	if p, ok := inTree[sha]; ok {
		return t.root.open(p)
	}
	return nil, fmt.Errorf("content %s is neither kept in %s nor in the tree", short(sha), filepath.Join(t.stateDir, objectsDir))
}

// keepObjects copies every listed content into the object store if it is not there.
func (t *Target) keepObjects(ctx context.Context, keep map[string]bool, src contentSource) error {
	shas := make([]string, 0, len(keep))
	for s := range keep {
		shas = append(shas, s)
	}
	sort.Strings(shas)
	for _, sha := range shas {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok, _ := t.state.lstat(path.Join(objectsDir, sha)); ok {
			continue
		}
		in, err := src(sha)
		if err != nil {
			return err
		}
		tmp := path.Join(objectsDir, ".tmp-"+sha)
		t.state.remove(tmp, false)
		err = t.copyChecked(tmp, in, sha, 0o400)
		in.Close()
		if err != nil {
			return fmt.Errorf("keeping base content: %w", err)
		}
		if err := rename(t.state, tmp, t.state, path.Join(objectsDir, sha)); err != nil {
			return err
		}
		t.step("object kept")
	}
	return t.state.syncDir(objectsDir)
}

// copyChecked writes in to the new file p of the state directory, checks its digest,
// sets perm and syncs it.
func (t *Target) copyChecked(p string, in io.Reader, sha string, perm uint32) error {
	out, err := t.state.create(p)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(limitWriter(out), h), in); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return fmt.Errorf("content of %s changed while it was copied", short(sha))
	}
	if err := unix.Fchmod(int(out.Fd()), perm); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// stageEntry decodes a payload into s's staged file.
func (t *Target) stageEntry(e *bundle.Entry, s *step, src contentSource) error {
	var base io.ReaderAt
	if b := e.File.Base; b != nil && b.Type == bundle.TypeFile && e.File.Op == bundle.OpPatch {
		bf, err := src(b.SHA256)
		if err != nil {
			return err
		}
		defer bf.Close()
		base = bf
	}
	out, err := t.state.create(s.Stage)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := e.Decode(limitWriter(out), base); err != nil {
		return err
	}
	mode, _ := bundle.ParseMode(s.To.Mode)
	if err := unix.Fchmod(int(out.Fd()), mode); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	t.step("staged " + s.Path)
	return nil
}

// stageNode makes the staged file or symlink p holding n, file contents from src.
func (t *Target) stageNode(p string, n *bundle.Node, src contentSource) error {
	t.state.remove(p, false)
	if n.Type == bundle.TypeSymlink {
		if err := t.state.symlink(n.Link, p); err != nil {
			return err
		}
		t.step("staged symlink")
		return nil
	}
	in, err := src(n.SHA256)
	if err != nil {
		return err
	}
	defer in.Close()
	mode, _ := bundle.ParseMode(n.Mode)
	if err := t.copyChecked(p, in, n.SHA256, mode); err != nil {
		return err
	}
	t.step("staged file")
	return nil
}

// switchTo moves every path of j to its To node (or, rolling back, its From node),
// then proves each by digest. Every step checks the tree first, so running it again
// after an interruption finishes the job.
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
		stageOf[i] = s.Stage
		if !rollback {
			continue
		}
		if w := s.From; w != nil && w.Type != bundle.TypeDir {
			// Stage the old node afresh from the object store.
			stageOf[i] = path.Join(stagingDir, j.Tx, fmt.Sprintf("r%d", i))
			if have, err := t.root.node(s.Path); err == nil && sameNode(have, w) {
				stageOf[i] = ""
				continue
			}
			if err := t.state.mkdir(path.Join(stagingDir, j.Tx), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return 0, err
			}
			if err := t.stageNode(stageOf[i], w, func(sha string) (*os.File, error) { return t.content(sha, nil) }); err != nil {
				return 0, fmt.Errorf("staging %s for rollback: %w", s.Path, err)
			}
		}
	}
	// Removals and type changes, children first.
	for i := len(j.Steps) - 1; i >= 0; i-- {
		s := &j.Steps[i]
		w := want(s)
		st, ok, err := t.root.lstat(s.Path)
		if err != nil {
			return 0, err
		}
		if !ok || (w != nil && typeOf(st) == w.Type) {
			continue
		}
		if err := t.root.remove(s.Path, typeOf(st) == bundle.TypeDir); err != nil {
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
			st, ok, err := t.root.lstat(s.Path)
			if err != nil {
				return 0, err
			}
			if !ok || typeOf(st) != bundle.TypeDir {
				if err := t.root.mkdir(s.Path, 0o700); err != nil {
					return 0, err
				}
				t.step("mkdir " + s.Path)
			}
			continue
		}
		if stageOf[i] == "" {
			continue
		}
		if _, ok, err := t.state.lstat(stageOf[i]); err != nil || !ok {
			continue // renamed already
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
		st, _, err := t.root.lstat(s.Path)
		if err != nil {
			return 0, err
		}
		if bundle.FormatMode(st.Mode&0o7777) == w.Mode {
			continue
		}
		mode, _ := bundle.ParseMode(w.Mode)
		if err := t.root.chmod(s.Path, mode); err != nil {
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
			if st, ok, err := t.root.lstat(d); err != nil || !ok || typeOf(st) != bundle.TypeDir {
				continue // the dir was removed: its parent is synced
			}
		}
		if err := t.root.syncDir(d); err != nil {
			return 0, err
		}
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		have, err := t.root.node(s.Path)
		if err == nil && !sameNode(have, want(s)) {
			err = mismatch(have, want(s))
		}
		if err != nil {
			return 0, fmt.Errorf("proving %s after the switch: %w", s.Path, err)
		}
	}
	return len(j.Steps), nil
}

func typeOf(st unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return bundle.TypeDir
	case unix.S_IFLNK:
		return bundle.TypeSymlink
	case unix.S_IFREG:
		return bundle.TypeFile
	}
	return "special"
}

// recover finishes or rolls back a transition left by an interrupted command.
func (t *Target) recover() error {
	j, err := t.readJournal()
	if err != nil {
		return err
	}
	if j == nil {
		return t.cleanup()
	}
	rec := &Recovery{At: t.now().UTC().Format(time.RFC3339), Tx: j.Tx, Op: j.Op}
	st := cloneState(t.st)
	switch {
	case t.st.Tx == j.Tx:
		rec.Action = "cleaned up"
		rec.Detail = "the transition was committed; its journal and staging were left"
	case !j.Rollback:
		if _, err := t.switchTo(j, false); err == nil {
			rec.Action = "completed"
			st = j.State
			st.LastRecovery = nil
			break
		} else {
			rec.Detail = "completing failed: " + err.Error()
		}
		j.Rollback = true
		if err := t.writeJournal(j); err != nil {
			return err
		}
		fallthrough
	default:
		if _, err := t.switchTo(j, true); err != nil {
			return fmt.Errorf("recovering interrupted %s %s: rolling back failed: %w (the journal %s is kept)", j.Op, j.Tx, err, filepath.Join(t.stateDir, journalFile))
		}
		rec.Action = "rolled back"
	}
	st.LastRecovery = rec
	if err := t.saveState(st); err != nil {
		return err
	}
	t.step("state committed (recovery)")
	t.Recovered = rec
	return t.finish()
}
