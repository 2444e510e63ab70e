package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// Names inside the state directory.
const (
	stateFile    = "state.json"
	journalFile  = "journal.json"
	lockFile     = "lock"
	objectsDir   = "objects"
	stagingDir   = "staging"
	manifestsDir = "manifests"
)

// Document types.
const (
	StateType   = "patchkit.install-state/v1"
	journalType = "patchkit.install-journal/v1"
)

// Limits on what the state directory may hold; anything larger is refused as hostile.
const (
	maxStateSize    = 64 << 20 // bytes of state.json, and of journal.json
	maxManifestSize = 16 << 20 // bytes of one kept manifest (the bundle format's limit)
	maxInstalled    = 256
	maxFloors       = 1024
	maxRecallItems  = 100_000
	maxSteps        = 2*100_000 + 1
)

// State is what the state directory records: the installed bundles, the anti-rollback
// floor per component, the newest recall list seen, retired bundles and the last
// recovery. It is replaced atomically; writing it is the commit point of every
// transition.
type State struct {
	Type         string           `json:"type"`
	Tx           string           `json:"tx,omitempty"` // the last committed transition
	Installed    []Install        `json:"installed"`
	Floors       map[string]int64 `json:"floors"`
	Recall       *Recall          `json:"recall,omitempty"`
	Retired      []Retired        `json:"retired,omitempty"` // bundles folded into a full release, see [Target.Retire]
	LastRecovery *Recovery        `json:"last_recovery,omitempty"`
}

// Install records one installed bundle. Its signed manifest is kept beside the state
// (manifests/HEX) and every field here must agree with it.
type Install struct {
	Digest      string             `json:"digest"`
	ID          string             `json:"id"`
	Label       string             `json:"label"`
	Sequence    int64              `json:"sequence"`
	Components  []bundle.Component `json:"components"`
	Advisories  []string           `json:"advisories,omitempty"`
	Activation  string             `json:"activation,omitempty"`
	NotAfter    string             `json:"not_after,omitempty"` // the manifest's expiry
	InstalledAt string             `json:"installed_at"`
	Superseded  string             `json:"superseded,omitempty"` // digest of the bundle this one replaced
	Paths       []Change           `json:"paths"`                // every path the bundle changes (pins excluded)
}

// Change is one path an installed bundle changed: the base it had (nil: absent) and the
// target it has now (nil: deleted), and the owner the base had, kept on the target and
// restored on remove. Base file contents are kept in the object store.
type Change struct {
	Path   string       `json:"path"`
	Base   *bundle.Node `json:"base,omitempty"`
	Target *bundle.Node `json:"target,omitempty"`
	Owner  *Owner       `json:"owner,omitempty"` // nil: the path was absent in the base
}

// Recall is the newest verified recall list seen on this target. Its fields are those of
// verify.RecallRecord, in the same order, so one converts to the other.
type Recall struct {
	Sequence int64             `json:"sequence"`
	Digest   string            `json:"digest"`
	Issued   string            `json:"issued,omitempty"`
	Entries  map[string]string `json:"entries"` // bundle digest → reason
	NotAfter string            `json:"not_after,omitempty"`
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

// step moves one path from one node to another. The staged file or symlink that
// becomes To by a rename is staging/TX/f<index> (see [stageName]); Owner is given to
// whatever the step puts at Path, forward or back.
type step struct {
	Path  string       `json:"path"`
	From  *bundle.Node `json:"from,omitempty"`
	To    *bundle.Node `json:"to,omitempty"`
	Owner *Owner       `json:"owner,omitempty"`
}

// stageName is where step i of transition tx is staged; r marks a rollback's copy.
func stageName(tx string, i int, rollback bool) string {
	k := "f"
	if rollback {
		k = "r"
	}
	return path.Join(stagingDir, tx, fmt.Sprintf("%s%d", k, i))
}

func newState() *State {
	return &State{Type: StateType, Installed: []Install{}, Floors: map[string]int64{}}
}

// StateError reports a state directory that cannot be trusted: a document that does not
// parse strictly or breaks a rule, a path that escapes, a kept object or manifest whose
// digest differs, a link where a file belongs. Nothing is done with such a state.
type StateError struct {
	File string // relative to the state directory
	Err  error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("untrusted install state %s: %v", e.File, e.Err)
}
func (e *StateError) Unwrap() error { return e.Err }

// decodeStrict decodes one JSON document of at most max bytes into v: unknown fields,
// trailing data and oversize input are refused.
func decodeStrict(r io.Reader, max int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > max {
		return fmt.Errorf("larger than %d bytes", max)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the document")
	}
	return nil
}

// readDoc reads the JSON document name of the state directory; false if it is absent.
// A symlink or special file in its place is refused, never followed.
func (t *Target) readDoc(name string, v any) (bool, error) {
	f, err := t.state.Open(name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &StateError{File: name, Err: err}
	}
	defer f.Close()
	if err := decodeStrict(f, maxStateSize, v); err != nil {
		return false, &StateError{File: name, Err: err}
	}
	return true, nil
}

// writeDoc replaces the document name atomically: a new temporary file (O_EXCL), synced,
// renamed over name, the directory synced.
func (t *Target) writeDoc(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return t.writeFile(name, append(b, '\n'), 0o600)
}

func (t *Target) writeFile(name string, data []byte, perm uint32) error {
	return t.state.WriteFileThrough(name, data, perm, limitWriter)
}

func (t *Target) loadState() error {
	st := newState()
	ok, err := t.readDoc(stateFile, st)
	if err != nil {
		return err
	}
	if ok {
		if err := t.checkState(st); err != nil {
			return &StateError{File: stateFile, Err: err}
		}
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
	if err := t.writeDoc(stateFile, st); err != nil {
		return fmt.Errorf("committing state: %w", err)
	}
	t.st = st
	return nil
}

func (t *Target) readJournal() (*journal, error) {
	j := &journal{}
	ok, err := t.readDoc(journalFile, j)
	if err != nil || !ok {
		return nil, err
	}
	return j, nil
}

func (t *Target) writeJournal(j *journal) error {
	if err := t.writeDoc(journalFile, j); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	t.step("journal " + j.Op)
	return nil
}

func (t *Target) removeJournal() error {
	if err := t.state.Remove(journalFile, false); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := t.state.SyncDir(""); err != nil {
		return err
	}
	t.step("journal removed")
	return nil
}

// manifestName is where the manifest of the bundle with digest d is kept.
func manifestName(d string) string {
	return path.Join(manifestsDir, strings.TrimPrefix(d, "sha256:"))
}

// keepManifest keeps the signed manifest of a bundle being installed.
func (t *Target) keepManifest(b []byte) error {
	name := manifestName(bundle.Digest(b))
	if _, err := t.readManifest(bundle.Digest(b)); err == nil {
		return nil
	}
	t.state.Remove(name, false)
	if err := t.writeFile(name, b, 0o400); err != nil {
		return fmt.Errorf("keeping the manifest: %w", err)
	}
	t.step("manifest kept")
	return nil
}

// readManifest reads the kept manifest of digest d and checks it: its digest, and the
// bundle format's strict parse.
func (t *Target) readManifest(d string) (*bundle.Manifest, error) {
	name := manifestName(d)
	f, err := t.state.Open(name)
	if err != nil {
		return nil, &StateError{File: name, Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, &StateError{File: name, Err: err}
	}
	if got := bundle.Digest(b); got != d {
		return nil, &StateError{File: name, Err: fmt.Errorf("digest is %s, want %s", got, d)}
	}
	m, err := bundle.ParseManifest(b)
	if err != nil {
		return nil, &StateError{File: name, Err: err}
	}
	return m, nil
}

// ErrLocked is matched by the error of an operation that could not take the lock.
var ErrLocked = errors.New("another patchkit operation holds the lock")

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

// cleanup removes staging leftovers, temporary files, and objects and manifests the
// committed state does not need. It runs only when no journal is present. Nothing is
// followed: a link planted there is removed, not what it points to.
func (t *Target) cleanup() error {
	names, _ := t.state.ReadDir(stagingDir)
	sort.Strings(names)
	for _, n := range names {
		if err := t.state.RemoveAll(path.Join(stagingDir, n)); err != nil {
			return err
		}
		t.step("staging removed")
	}
	// Temporary files of an interrupted atomic write of the state or the journal.
	names, _ = t.state.ReadDir("")
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			if err := t.state.RemoveAll(n); err != nil {
				return err
			}
			t.step("temporary file removed")
		}
	}
	keepObj := referenced(t.st)
	keepMan := map[string]bool{}
	for _, in := range t.st.Installed {
		keepMan[strings.TrimPrefix(in.Digest, "sha256:")] = true
	}
	for _, d := range []struct {
		dir  string
		keep map[string]bool
	}{{objectsDir, keepObj}, {manifestsDir, keepMan}} {
		names, _ = t.state.ReadDir(d.dir)
		sort.Strings(names)
		for _, n := range names {
			if d.keep[n] {
				continue
			}
			if err := t.state.RemoveAll(path.Join(d.dir, n)); err != nil {
				return err
			}
			t.step("object removed")
		}
	}
	return nil
}
