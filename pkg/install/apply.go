package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// VerifyFunc decides whether a bundle may be installed: signatures, policy, expiry,
// recall and sequence floors. floors are the target's own anti-rollback floors and
// recall the newest recall list it has seen (nil if none).
type VerifyFunc func(ctx context.Context, manifest []byte, sigs []bundle.Signature, floors map[string]int64, recall *Recall) error

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

// ErrOtherBase is matched by the error of an apply whose bundle shares a component with
// an installed bundle made for another base version: the tree moved (a full release
// was laid over it) or the bundle is for another release. Supersede happens only within
// one component and base version.
var ErrOtherBase = errors.New("installed for another base version")

// Apply verifies the bundle read by r with verify, checks the tree and installs the
// bundle, superseding an installed bundle of the same component and base version in
// one transition. Verification always runs, also for a bundle already installed
// (then nothing else happens: the result's Op is "none").
func (t *Target) Apply(ctx context.Context, r *bundle.Reader, verify VerifyFunc) (*Result, error) {
	if verify == nil {
		return nil, errors.New("install: no verification function: refusing to install unverified content")
	}
	m := r.Manifest()
	digest := r.Digest()
	if err := verify(ctx, r.ManifestBytes(), r.Signatures(), copyFloors(t.st.Floors), t.st.Recall); err != nil {
		return nil, err
	}
	for _, in := range t.st.Installed {
		if in.Digest == digest {
			return &Result{Type: ResultType, Op: "none", Digest: digest, ID: m.ID, Label: m.Label, Sequence: m.Sequence}, nil
		}
	}
	if err := checkPathsOutsideState(m); err != nil {
		return nil, err
	}
	cur, err := t.superseded(m)
	if err != nil {
		return nil, err
	}
	next := installOf(m, digest)
	next.InstalledAt = t.now().UTC().Format(time.RFC3339)
	if cur != nil {
		next.Superseded = cur.Digest
	}
	files := map[string]bool{}
	var pins []*bundle.File
	for i := range m.Files {
		f := &m.Files[i]
		files[f.Path] = true
		if f.Op == bundle.OpPin {
			pins = append(pins, f)
		}
	}
	for _, in := range t.st.Installed {
		if cur != nil && in.Digest == cur.Digest {
			continue
		}
		for _, c := range in.Paths {
			if files[c.Path] {
				return nil, fmt.Errorf("%s: also changed by installed bundle %s", c.Path, in.ID)
			}
		}
	}
	if err := t.ownersOf(cur, next); err != nil {
		return nil, err
	}
	op := "apply"
	if cur != nil {
		op = "supersede"
	}
	res, err := t.transition(ctx, op, cur, next, pins, r, nextState(t.st, cur, next))
	if err != nil {
		return nil, err
	}
	res.Digest, res.ID, res.Label, res.Sequence, res.Superseded = digest, m.ID, m.Label, m.Sequence, cur
	return res, nil
}

// superseded returns the installed bundle m replaces: the one sharing a component with
// m. It must be for the same base version of every component they share.
func (t *Target) superseded(m *bundle.Manifest) (*Install, error) {
	var cur *Install
	for i := range t.st.Installed {
		in := &t.st.Installed[i]
		shared := false
		for _, c := range in.Components {
			mc := m.Component(c.Name)
			if mc == nil {
				continue
			}
			shared = true
			if mc.BaseVersion != c.BaseVersion {
				return nil, &bundle.BaseError{Path: c.Name, Err: fmt.Errorf("%w: %s is installed for %s %s, this bundle is for base %s; if a full release was laid over the tree, run \"patchkit retire %s --folded-into RELEASE\" first",
					ErrOtherBase, in.ID, c.Name, c.BaseVersion, mc.BaseVersion, in.ID)}
			}
		}
		if !shared {
			continue
		}
		if cur != nil {
			return nil, fmt.Errorf("bundles %s and %s are both installed for the components of %s", cur.ID, in.ID, m.ID)
		}
		cur = in
	}
	return cur, nil
}

// ownersOf records in next the owner every path had in the base: the one cur recorded
// for paths cur changed, else the path's owner in the tree now.
func (t *Target) ownersOf(cur, next *Install) error {
	was := map[string]*Owner{}
	if cur != nil {
		for _, c := range cur.Paths {
			was[c.Path] = c.Owner
		}
	}
	for i := range next.Paths {
		c := &next.Paths[i]
		if c.Base == nil {
			continue
		}
		if o, ok := was[c.Path]; ok {
			c.Owner = o
			continue
		}
		st, ok, err := t.root.Lstat(c.Path)
		if err != nil {
			return err
		}
		if ok {
			c.Owner = ownerOf(st)
		} else {
			c.Owner = &Owner{} // missing: the base check refuses it
		}
	}
	return nil
}

// nextState is the state after replacing cur (nil: none) by next (nil: none).
func nextState(s *State, cur, next *Install) *State {
	st := cloneState(s)
	st.Installed = st.Installed[:0]
	for _, in := range s.Installed {
		if cur == nil || in.Digest != cur.Digest {
			st.Installed = append(st.Installed, in)
		}
	}
	if next != nil {
		st.Installed = append(st.Installed, *next)
		for _, c := range next.Components {
			st.Floors[c.Name] = max(st.Floors[c.Name], next.Sequence)
		}
	}
	return st
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
	c.Installed = append([]Install{}, s.Installed...)
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
