package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// The state directory is input: a process that could write there, an image built
// elsewhere, or a full release laid over the tree may have left anything. Every
// document is parsed strictly (see [decodeStrict]) and then checked here: each installed
// bundle against its kept signed manifest (so paths, nodes and modes are exactly what
// the manifest allowed), and a journal against the transition the state and the
// journal's target state imply (so recovery never moves a path, or writes content,
// that the signed manifests do not name).

var (
	txRE     = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,63}$`)
)

const (
	maxText     = 1024
	maxSequence = 1<<53 - 1
)

func checkText(what, s string) error {
	if len(s) > maxText || !utf8.ValidString(s) {
		return fmt.Errorf("%s is too long or not UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s holds a control character", what)
		}
	}
	return nil
}

func checkTime(what, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("%s %q is not an RFC 3339 time", what, s)
	}
	return nil
}

// checkState checks a parsed state document.
func (t *Target) checkState(st *State) error {
	if st.Type != StateType {
		return fmt.Errorf("type %q, want %q", st.Type, StateType)
	}
	if st.Tx != "" && !txRE.MatchString(st.Tx) {
		return fmt.Errorf("transaction id %q", st.Tx)
	}
	if len(st.Installed) > maxInstalled {
		return fmt.Errorf("%d installed bundles, more than %d", len(st.Installed), maxInstalled)
	}
	owner := map[string]string{} // path → id of the bundle changing it
	for i := range st.Installed {
		in := &st.Installed[i]
		if err := t.checkInstall(in); err != nil {
			return fmt.Errorf("installed bundle %d (%.80q): %w", i, in.ID, err)
		}
		for j := range st.Installed[:i] {
			if st.Installed[j].Digest == in.Digest {
				return fmt.Errorf("bundle %s is recorded twice", in.Digest)
			}
		}
		for _, c := range in.Paths {
			if other, ok := owner[c.Path]; ok {
				return fmt.Errorf("path %s is changed by two installed bundles (%s and %s)", c.Path, other, in.ID)
			}
			owner[c.Path] = in.ID
		}
	}
	if len(st.Floors) > maxFloors {
		return fmt.Errorf("%d floors, more than %d", len(st.Floors), maxFloors)
	}
	for name, f := range st.Floors {
		if !nameRE.MatchString(name) || f < 0 || f > maxSequence {
			return fmt.Errorf("floor %.80q: %d", name, f)
		}
	}
	if rc := st.Recall; rc != nil {
		if rc.Sequence < 0 || rc.Sequence > maxSequence || !digestRE.MatchString(rc.Digest) || len(rc.Entries) > maxRecallItems {
			return errors.New("recall list record out of range")
		}
		if err := checkTime("recall list issue time", rc.Issued, false); err != nil {
			return err
		}
		if err := checkTime("recall list expiry", rc.NotAfter, false); err != nil {
			return err
		}
		for d, reason := range rc.Entries {
			if !digestRE.MatchString(d) {
				return fmt.Errorf("recall entry %.80q is not a bundle digest", d)
			}
			if err := checkText("recall reason", reason); err != nil {
				return err
			}
		}
	}
	if len(st.Retired) > maxRetired {
		return fmt.Errorf("%d retired bundles, more than %d", len(st.Retired), maxRetired)
	}
	for _, r := range st.Retired {
		if !digestRE.MatchString(r.Digest) || r.Sequence < 0 || r.Sequence > maxSequence || len(r.Components) > 64 {
			return errors.New("retired bundle record out of range")
		}
		for _, s := range []string{r.ID, r.Label} {
			if err := checkText("retired bundle", s); err != nil {
				return err
			}
		}
		if err := checkFoldedInto(r.FoldedInto); err != nil {
			return err
		}
		if err := checkTime("retire time", r.RetiredAt, true); err != nil {
			return err
		}
	}
	if r := st.LastRecovery; r != nil {
		for _, s := range []string{r.Tx, r.Op, r.Action} {
			if err := checkText("last recovery", s); err != nil {
				return err
			}
		}
		if len(r.Detail) > 64<<10 || !utf8.ValidString(r.Detail) {
			return errors.New("last recovery detail is too long")
		}
	}
	return nil
}

// checkInstall checks an install record against the signed manifest kept for it: the
// record says nothing the manifest does not.
func (t *Target) checkInstall(in *Install) error {
	if !digestRE.MatchString(in.Digest) {
		return fmt.Errorf("digest %.80q", in.Digest)
	}
	if in.Superseded != "" && !digestRE.MatchString(in.Superseded) {
		return fmt.Errorf("superseded digest %.80q", in.Superseded)
	}
	if err := checkTime("install time", in.InstalledAt, true); err != nil {
		return err
	}
	m, err := t.readManifest(in.Digest)
	if err != nil {
		return err
	}
	want := installOf(m, in.Digest)
	if in.ID != want.ID || in.Label != want.Label || in.Sequence != want.Sequence || in.Activation != want.Activation ||
		in.NotAfter != want.NotAfter || !reflect.DeepEqual(in.Components, want.Components) || !reflect.DeepEqual(in.Advisories, want.Advisories) {
		return errors.New("the record differs from the bundle's signed manifest")
	}
	if len(in.Paths) != len(want.Paths) {
		return fmt.Errorf("%d paths, the signed manifest changes %d", len(in.Paths), len(want.Paths))
	}
	for i, c := range in.Paths {
		w := want.Paths[i]
		if c.Path != w.Path || !sameNode(c.Base, w.Base) || !sameNode(c.Target, w.Target) {
			return fmt.Errorf("path %d (%.200q) differs from the signed manifest", i, c.Path)
		}
		if (c.Owner == nil) != (c.Base == nil) {
			return fmt.Errorf("path %s: an owner is recorded exactly when the base has the path", c.Path)
		}
	}
	return nil
}

// installOf is the record of installing m, without owners and install time.
func installOf(m *bundle.Manifest, digest string) *Install {
	in := &Install{Digest: digest, ID: m.ID, Label: m.Label, Sequence: m.Sequence, Components: m.Components,
		Advisories: m.Advisories, Activation: m.Activation, NotAfter: m.NotAfter}
	for i := range m.Files {
		f := &m.Files[i]
		if f.Op != bundle.OpPin {
			in.Paths = append(in.Paths, Change{Path: f.Path, Base: f.Base, Target: f.Target})
		}
	}
	return in
}

// checkPathsOutsideState refuses a manifest that writes into the state directory.
func checkPathsOutsideState(m *bundle.Manifest) error {
	for _, f := range m.Files {
		if first, _, _ := strings.Cut(f.Path, "/"); first == StateDirName {
			return &PathError{Path: f.Path, Err: errors.New("the bundle writes into the patchkit state directory")}
		}
	}
	return nil
}

// checkJournal checks a journal against the committed state: it must describe exactly
// the transition from t.st to its own state, step for step, as [planSteps] makes it.
// It returns the bundles leaving and entering.
func (t *Target) checkJournal(j *journal) error {
	if j.Type != journalType {
		return fmt.Errorf("type %q, want %q", j.Type, journalType)
	}
	if !txRE.MatchString(j.Tx) {
		return fmt.Errorf("transaction id %.80q", j.Tx)
	}
	if j.State == nil {
		return errors.New("no state")
	}
	if len(j.Steps) > maxSteps {
		return fmt.Errorf("%d steps, more than %d", len(j.Steps), maxSteps)
	}
	if j.Tx == t.st.Tx {
		return nil // committed: only the cleanup is left, which trusts nothing of it
	}
	if err := t.checkState(j.State); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if j.State.Tx != j.Tx {
		return errors.New("its state is not the state of its transaction")
	}
	cur, next, err := diffStates(t.st, j.State)
	if err != nil {
		return err
	}
	switch {
	case j.Op == "apply" && cur == nil && next != nil,
		j.Op == "supersede" && cur != nil && next != nil,
		j.Op == "remove" && cur != nil && next == nil:
	default:
		return fmt.Errorf("op %.20q does not match the change of its state", j.Op)
	}
	if next != nil {
		if err := sameOwners(cur, next); err != nil {
			return err
		}
	}
	want := nextState(t.st, cur, next)
	want.Tx = j.Tx
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(j.State)
	if string(a) != string(b) {
		return errors.New("its state is not what the transition makes of the committed state")
	}
	steps, err := planSteps(cur, next)
	if err != nil {
		return err
	}
	if len(steps) != len(j.Steps) {
		return fmt.Errorf("%d steps, the transition has %d", len(j.Steps), len(steps))
	}
	for i := range steps {
		s, w := &j.Steps[i], &steps[i]
		if s.Path != w.Path || !sameNode(s.From, w.From) || !sameNode(s.To, w.To) || !reflect.DeepEqual(s.Owner, w.Owner) {
			return fmt.Errorf("step %d (%.200q) is not the transition's step", i, s.Path)
		}
	}
	return nil
}

// diffStates returns the install in a but not in b (cur) and the one in b but not in
// a (next); more than one of either is refused.
func diffStates(a, b *State) (cur, next *Install, err error) {
	in := func(s *State, d string) bool {
		for _, x := range s.Installed {
			if x.Digest == d {
				return true
			}
		}
		return false
	}
	for i := range a.Installed {
		if !in(b, a.Installed[i].Digest) {
			if cur != nil {
				return nil, nil, errors.New("the journal removes more than one bundle")
			}
			cur = &a.Installed[i]
		}
	}
	for i := range b.Installed {
		if !in(a, b.Installed[i].Digest) {
			if next != nil {
				return nil, nil, errors.New("the journal installs more than one bundle")
			}
			next = &b.Installed[i]
		}
	}
	return cur, next, nil
}

// sameOwners checks that next keeps the owner cur recorded for every path both change.
func sameOwners(cur, next *Install) error {
	if cur == nil {
		return nil
	}
	was := map[string]*Owner{}
	for _, c := range cur.Paths {
		was[c.Path] = c.Owner
	}
	for _, c := range next.Paths {
		if o, ok := was[c.Path]; ok && !reflect.DeepEqual(o, c.Owner) {
			return fmt.Errorf("path %s: the owner changes between %s and %s", c.Path, cur.ID, next.ID)
		}
	}
	return nil
}

// checkStepPath is the path rule of every state path: the manifest's (clean, relative,
// bounded) and outside the state directory.
func checkStepPath(p string) error {
	if err := bundle.CheckPath(p); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(p, "/"); first == StateDirName {
		return errors.New("inside the patchkit state directory")
	}
	return nil
}
