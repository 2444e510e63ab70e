package install

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// maxFoldedInto bounds the release name [Target.Retire] records.
const (
	maxFoldedInto = 256
	maxRetired    = 256 // retired bundles the state remembers, newest last
)

// Retired records a bundle whose installed state was dropped by [Target.Retire]
// without touching the tree: the full release FoldedInto carries its fix.
type Retired struct {
	Digest     string             `json:"digest"`
	ID         string             `json:"id"`
	Label      string             `json:"label"`
	Sequence   int64              `json:"sequence"`
	Components []bundle.Component `json:"components"`
	FoldedInto string             `json:"folded_into"`
	RetiredAt  string             `json:"retired_at"`
}

// Retire drops the installed state of the bundle named by ref (see [Target.Find])
// without touching any file of the tree, and records that the release foldedInto
// (for example the full release "3.0.22-1~deb12u2" laid over the tree) folded it in.
// It is the way out of a tree that a package manager or an image update moved past
// the bundle: remove would restore a base that is no longer there.
//
// The floors stay; the kept base contents of the bundle are deleted.
func (t *Target) Retire(ctx context.Context, ref, foldedInto string) (*Result, error) {
	if err := checkFoldedInto(foldedInto); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cur, err := t.Find(ref)
	if err != nil {
		return nil, err
	}
	st := cloneState(t.st)
	st.LastRecovery = t.st.LastRecovery
	st.Installed = st.Installed[:0]
	for _, in := range t.st.Installed {
		if in.Digest != cur.Digest {
			st.Installed = append(st.Installed, in)
		}
	}
	st.Retired = append(append([]Retired(nil), t.st.Retired...), Retired{
		Digest: cur.Digest, ID: cur.ID, Label: cur.Label, Sequence: cur.Sequence,
		Components: cur.Components, FoldedInto: foldedInto,
		RetiredAt: t.now().UTC().Format(time.RFC3339),
	})
	if len(st.Retired) > maxRetired {
		st.Retired = st.Retired[len(st.Retired)-maxRetired:]
	}
	if err := t.saveState(st); err != nil {
		return nil, err
	}
	t.step("state committed (retire)")
	if err := t.cleanup(); err != nil {
		return nil, err
	}
	return &Result{Type: ResultType, Op: "retire", Digest: cur.Digest, ID: cur.ID, Label: cur.Label,
		Sequence: cur.Sequence, FoldedInto: foldedInto}, nil
}

// checkFoldedInto accepts a release name: non-empty, bounded, printable.
func checkFoldedInto(s string) error {
	if s == "" {
		return errors.New("retire: name the release that folded the bundle in")
	}
	if len(s) > maxFoldedInto {
		return fmt.Errorf("retire: release name is longer than %d bytes", maxFoldedInto)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("retire: release name %q holds a control character", s)
		}
	}
	return nil
}
