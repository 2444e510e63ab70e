package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patchkit/patchkit/internal/safefs"
	"golang.org/x/sys/unix"
)

// StateDirName is the default state directory below the target root.
const StateDirName = ".patchkit"

// Options configure [Open].
type Options struct {
	StateDir    string        // default ROOT/.patchkit; on the root's filesystem, outside the tree (see [CheckStateDir])
	LockTimeout time.Duration // how long to wait for another operation; default 10s
	Now         func() time.Time
	// NoCreate makes Open fail with [ErrNoState] instead of creating the state directory.
	NoCreate bool
}

// ErrNoState is returned by [Open] with NoCreate when there is no state directory.
var ErrNoState = errors.New("no patchkit state")

// ErrStateDirOverlap is matched by the error of [CheckStateDir] (and [Open]) for a state
// directory that is the tree, lies inside it (other than ROOT/.patchkit) or holds it.
var ErrStateDirOverlap = errors.New("the state directory overlaps the tree")

// Target is an open target tree with its state, locked for one operation.
type Target struct {
	rootDir  string
	stateDir string
	root     *tree
	state    *tree
	lockFile *os.File
	created  bool // Open made the state directory
	st       *State
	now      func() time.Time
	// Recovered says what Open did about an unfinished transition, or nil.
	Recovered *Recovery
}

// CheckStateDir refuses a state directory that overlaps the tree at root: equal to it,
// inside it (except the default ROOT/.patchkit, which bundles may not write) or holding
// it. Paths are compared after resolving symlinks of the parts that exist.
func CheckStateDir(root, stateDir string) error {
	if stateDir == "" {
		return nil
	}
	r, err := resolve(root)
	if err != nil {
		return err
	}
	s, err := resolve(stateDir)
	if err != nil {
		return err
	}
	if s == filepath.Join(r, StateDirName) {
		return nil
	}
	within := func(a, b string) bool { // a is b or below it
		rel, err := filepath.Rel(b, a)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	switch {
	case s == r:
		return fmt.Errorf("%w: --state-dir %s is the tree %s", ErrStateDirOverlap, stateDir, root)
	case within(s, r):
		return fmt.Errorf("%w: --state-dir %s is inside the tree %s (a bundle or the tree's own files could reach it)", ErrStateDirOverlap, stateDir, root)
	case within(r, s):
		return fmt.Errorf("%w: --state-dir %s holds the tree %s", ErrStateDirOverlap, stateDir, root)
	}
	return nil
}

// resolve makes p absolute with every existing part's symlinks resolved.
func resolve(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest), nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// Open opens the target tree root, locks its state and recovers an unfinished
// transition. Everything in the state directory is checked as input (see
// [StateError]); nothing in it or in the tree is reached through a symlink.
func Open(ctx context.Context, root string, o *Options) (*Target, error) {
	if o == nil {
		o = &Options{}
	}
	faultsFromBuild()
	if err := CheckStateDir(root, o.StateDir); err != nil {
		return nil, err
	}
	t := &Target{rootDir: root, stateDir: o.StateDir, now: o.Now}
	if t.now == nil {
		t.now = time.Now
	}
	if t.stateDir == "" {
		t.stateDir = filepath.Join(root, StateDirName)
	}
	ok := false
	defer func() {
		if !ok {
			t.Close()
		}
	}()
	var err error
	if t.root, err = safefs.Open(root); err != nil {
		return nil, err
	}
	if err := t.openState(o.StateDir, o.NoCreate); err != nil {
		return nil, err
	}
	timeout := o.LockTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if err := t.lock(timeout); err != nil {
		return nil, err
	}
	for _, d := range []string{objectsDir, stagingDir, manifestsDir} {
		if err := t.state.Mkdir(d, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &StateError{File: d, Err: err}
		}
		if sub, err := t.state.OpenDir(d); err != nil {
			return nil, &StateError{File: d, Err: err}
		} else {
			sub.Close()
		}
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

// openState opens (or makes) the state directory without following a link to it.
func (t *Target) openState(custom string, noCreate bool) error {
	parent, name := t.root, StateDirName
	if custom != "" {
		var err error
		if parent, err = safefs.Open(filepath.Dir(custom)); err != nil {
			return err
		}
		defer parent.Close()
		name = filepath.Base(custom)
	}
	_, exists, err := parent.Lstat(name)
	if err != nil {
		return err
	}
	if !exists {
		if noCreate {
			return ErrNoState
		}
		if err := parent.Mkdir(name, 0o700); err != nil {
			return err
		}
		t.created = true
	}
	if t.state, err = parent.OpenDir(name); err != nil {
		return &StateError{File: t.stateDir, Err: err}
	}
	rst, err := t.root.Stat()
	if err != nil {
		return err
	}
	sst, err := t.state.Stat()
	if err != nil {
		return err
	}
	if rst.Dev != sst.Dev {
		return fmt.Errorf("state directory %s is not on the filesystem of %s: staged files could not be renamed into place", t.stateDir, t.rootDir)
	}
	return nil
}

// Close releases the lock. A state directory this Open made is removed again when
// nothing was committed in it (a refused apply leaves no .patchkit behind).
func (t *Target) Close() error {
	if t.state != nil && t.created {
		if _, ok, _ := t.state.Lstat(stateFile); !ok {
			if _, ok, _ := t.state.Lstat(journalFile); !ok {
				t.removeCreated()
			}
		}
	}
	if t.root != nil {
		t.root.Close()
		t.root = nil
	}
	if t.state != nil {
		t.state.Close()
		t.state = nil
	}
	if t.lockFile != nil {
		t.lockFile.Close()
		t.lockFile = nil
	}
	return nil
}

func (t *Target) removeCreated() {
	for _, n := range []string{objectsDir, stagingDir, manifestsDir, lockFile} {
		t.state.RemoveAll(n)
	}
	parent, name := t.root, StateDirName
	if t.stateDir != filepath.Join(t.rootDir, StateDirName) {
		p, err := safefs.Open(filepath.Dir(t.stateDir))
		if err != nil {
			return
		}
		defer p.Close()
		parent, name = p, filepath.Base(t.stateDir)
	}
	parent.Remove(name, true) // fails, harmlessly, if anything else is there
}

// State returns the committed state.
func (t *Target) State() *State { return t.st }

// StateDir returns the state directory.
func (t *Target) StateDir() string { return t.stateDir }

// lock takes the exclusive lock on the state directory, waiting up to timeout. The
// lock file is opened without following a link and must be a regular file.
func (t *Target) lock(timeout time.Duration) error {
	f, err := t.state.OpenRW(lockFile, 0o600)
	if err != nil {
		return &StateError{File: lockFile, Err: err}
	}
	// The pid is written into the lock: never through a hard link to a file elsewhere.
	if fi, err := f.Stat(); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		f.Close()
		if err == nil {
			err = errors.New("has more than one hard link")
		}
		return &StateError{File: lockFile, Err: err}
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return fmt.Errorf("locking %s: %w", filepath.Join(t.stateDir, lockFile), err)
		}
		if !time.Now().Before(deadline) {
			holder, _ := io.ReadAll(io.LimitReader(f, 32))
			f.Close()
			return fmt.Errorf("%w on %s (pid %s); waited %s", ErrLocked, t.stateDir, bytes.TrimSpace(holder), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	t.lockFile = f
	return nil
}

// recover finishes or rolls back a transition left by an interrupted command. The
// journal is checked against the committed state and the kept manifests first: one
// that does not describe exactly the transition they imply is refused.
func (t *Target) recover() error {
	j, err := t.readJournal()
	if err != nil {
		return err
	}
	if j == nil {
		return t.cleanup()
	}
	if err := t.checkJournal(j); err != nil {
		return &StateError{File: journalFile, Err: err}
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
