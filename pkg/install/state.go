package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// Names inside the state directory.
const (
	stateFile   = "state.json"
	journalFile = "journal.json"
	lockFile    = "lock"
	objectsDir  = "objects"
	stagingDir  = "staging"
)

// Document types.
const (
	StateType   = "patchkit.install-state/v1"
	journalType = "patchkit.install-journal/v1"
)

// State is what the state directory records: the installed bundles, the anti-rollback
// floor per component, the newest recall list seen, and the last recovery. It is
// replaced atomically; writing it is the commit point of every transition.
type State struct {
	Type         string           `json:"type"`
	Tx           string           `json:"tx,omitempty"` // the last committed transition
	Installed    []Install        `json:"installed"`
	Floors       map[string]int64 `json:"floors"`
	Recall       *Recall          `json:"recall,omitempty"`
	Retired      []Retired        `json:"retired,omitempty"` // bundles folded into a full release, see [Target.Retire]
	LastRecovery *Recovery        `json:"last_recovery,omitempty"`
}

// Install records one installed bundle.
type Install struct {
	Digest      string             `json:"digest"`
	ID          string             `json:"id"`
	Label       string             `json:"label"`
	Sequence    int64              `json:"sequence"`
	Components  []bundle.Component `json:"components"`
	Advisories  []string           `json:"advisories,omitempty"`
	Activation  string             `json:"activation,omitempty"`
	InstalledAt string             `json:"installed_at"`
	Superseded  string             `json:"superseded,omitempty"` // digest of the bundle this one replaced
	Paths       []Change           `json:"paths"`                // every path the bundle changes (pins excluded)
}

// Change is one path an installed bundle changed: the base it had (nil: absent) and the
// target it has now (nil: deleted). Base file contents are kept in the object store.
type Change struct {
	Path   string       `json:"path"`
	Base   *bundle.Node `json:"base,omitempty"`
	Target *bundle.Node `json:"target,omitempty"`
}

// Recall is the newest verified recall list seen on this target.
type Recall struct {
	Sequence int64             `json:"sequence"`
	Digest   string            `json:"digest"`
	Issued   string            `json:"issued,omitempty"`
	Entries  map[string]string `json:"entries"` // bundle digest → reason
}

// Recovery says what a command did about a transition it found unfinished.
type Recovery struct {
	At     string `json:"at"`
	Tx     string `json:"tx"`
	Op     string `json:"op"`
	Action string `json:"action"` // "completed", "rolled back" or "cleaned up"
	Detail string `json:"detail,omitempty"`
}

// journal is the record of one transition, written (and synced) before the tree is
// touched. Its presence means a transition may be half done.
type journal struct {
	Type     string `json:"type"`
	Tx       string `json:"tx"`
	Op       string `json:"op"`
	Rollback bool   `json:"rollback"` // set before a rollback starts: recovery rolls back too
	Steps    []step `json:"steps"`
	State    *State `json:"state"` // the state committed when the switch is done
}

// step moves one path from one node to another. Stage names the staged file or symlink
// (relative to the state directory) that becomes To by a rename.
type step struct {
	Path  string       `json:"path"`
	From  *bundle.Node `json:"from,omitempty"`
	To    *bundle.Node `json:"to,omitempty"`
	Stage string       `json:"stage,omitempty"`
}

func newState() *State {
	return &State{Type: StateType, Installed: []Install{}, Floors: map[string]int64{}}
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

func (t *Target) loadState() error {
	st := newState()
	ok, err := readJSON(filepath.Join(t.stateDir, stateFile), st)
	if err != nil {
		return err
	}
	if ok && st.Type != StateType {
		return fmt.Errorf("%s: type %q, want %q", filepath.Join(t.stateDir, stateFile), st.Type, StateType)
	}
	if st.Floors == nil {
		st.Floors = map[string]int64{}
	}
	if st.Installed == nil {
		st.Installed = []Install{}
	}
	t.st = st
	return nil
}

func (t *Target) saveState(st *State) error {
	if err := writeJSON(filepath.Join(t.stateDir, stateFile), st); err != nil {
		return fmt.Errorf("committing state: %w", err)
	}
	t.st = st
	return nil
}

func (t *Target) readJournal() (*journal, error) {
	j := &journal{}
	ok, err := readJSON(filepath.Join(t.stateDir, journalFile), j)
	if err != nil || !ok {
		return nil, err
	}
	if j.Type != journalType || j.State == nil {
		return nil, fmt.Errorf("%s: not a patchkit journal", journalFile)
	}
	return j, nil
}

func (t *Target) writeJournal(j *journal) error {
	if err := writeJSON(filepath.Join(t.stateDir, journalFile), j); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	t.step("journal " + j.Op)
	return nil
}

func (t *Target) removeJournal() error {
	if err := os.Remove(filepath.Join(t.stateDir, journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := atomicfile.SyncDir(t.stateDir); err != nil {
		return err
	}
	t.step("journal removed")
	return nil
}

// ErrLocked is matched by the error of an operation that could not take the lock.
var ErrLocked = errors.New("another patchkit operation holds the lock")

// lock takes the exclusive lock on the state directory, waiting up to timeout.
func (t *Target) lock(timeout time.Duration) error {
	p := filepath.Join(t.stateDir, lockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return fmt.Errorf("locking %s: %w", p, err)
		}
		if !time.Now().Before(deadline) {
			holder, _ := os.ReadFile(p)
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

// referenced returns the object digests st needs: every base file of every install.
func referenced(st *State) map[string]bool {
	ref := map[string]bool{}
	for _, in := range st.Installed {
		for _, c := range in.Paths {
			if c.Base != nil && c.Base.Type == bundle.TypeFile {
				ref[c.Base.SHA256] = true
			}
		}
	}
	return ref
}

// cleanup removes staging leftovers and objects the committed state does not need.
// It runs only when no journal is present.
func (t *Target) cleanup() error {
	names, _ := t.state.readDir(stagingDir)
	sort.Strings(names)
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(t.stateDir, stagingDir, n)); err != nil {
			return err
		}
		t.step("staging removed")
	}
	// Temporary files of an interrupted atomic write of the state or the journal.
	names, _ = t.state.readDir(".")
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			if err := os.Remove(filepath.Join(t.stateDir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			t.step("temporary file removed")
		}
	}
	ref := referenced(t.st)
	names, _ = t.state.readDir(objectsDir)
	sort.Strings(names)
	for _, n := range names {
		if ref[n] {
			continue
		}
		if err := os.Remove(filepath.Join(t.stateDir, objectsDir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		t.step("object removed")
	}
	return nil
}
