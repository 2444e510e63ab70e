package channel

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/patchkit/patchkit/internal/safefs"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/verify"
)

// FetchIndex resolves the channel tag and fetches and verifies the index it points at:
// manifest (bounded, artifact type checked), index blob (bounded, size and digest
// checked), signatures (p's trusted signers, p's threshold). Expiry, channel name and
// sequence are checked by [Check].
func FetchIndex(ctx context.Context, r *Repo, p *verify.Policy) (*Verified, error) {
	ref := r.Ref.Tag
	if ref == "" {
		ref = r.Ref.Digest
	}
	b, desc, err := r.resolveArtifact(ctx, ref, ArtifactTypeIndex, MediaTypeIndex)
	if err != nil {
		return nil, err
	}
	raw, err := r.fetchSmall(ctx, b, "channel index", maxIndexSize)
	if err != nil {
		return nil, err
	}
	v, err := ParseIndex(raw, p)
	if err != nil {
		return nil, err
	}
	v.Manifest = desc.Digest.String()
	return v, nil
}

// fetchRecall fetches the recall list blob b and verifies it against p.
func fetchRecall(ctx context.Context, r *Repo, b Blob, p *verify.Policy) (*verify.RecallList, error) {
	raw, err := r.fetchSmall(ctx, b, "recall list", maxIndexSize)
	if err != nil {
		return nil, err
	}
	l, err := verify.ParseRecallList(raw, p)
	if err != nil {
		return nil, fmt.Errorf("recall list %s: %w", b.Digest, err)
	}
	return l, nil
}

// Seen is what a machine remembers about a channel: the highest index it accepted.
type Seen struct {
	Channel  string `json:"channel"`
	Sequence int64  `json:"sequence"`
	Digest   string `json:"digest"`
	Expires  string `json:"expires"`
	SeenAt   string `json:"seen_at"`
}

// seenFile is the machine's channel memory in the install state directory.
const seenFile = "channels.json"

type seenDoc struct {
	Type     string          `json:"type"`
	Channels map[string]Seen `json:"channels"`
}

const seenType = "patchkit.channels-seen/v1"

// downloadPrefix names the temporary files of downloaded bundles in the state directory.
const downloadPrefix = ".download.tmp-"

// maxSeenSize bounds the channel memory: a few hundred bytes a channel.
const maxSeenSize = 1 << 20

// openStateDir opens t's state directory again for this package's own files, as
// pkg/install opens it: its parent (the root, or --state-dir's parent) is named by the
// operator; the directory itself and everything below it are reached through
// internal/safefs, never through a link.
func openStateDir(t *install.Target) (*safefs.Dir, error) {
	sd := t.StateDir()
	parent, err := safefs.Open(filepath.Dir(sd))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	d, err := parent.OpenDir(filepath.Base(sd))
	if err != nil {
		return nil, &install.StateError{File: sd, Err: err}
	}
	return d, nil
}

// readSeen reads the channel memory of the state directory sd. It is input like any
// install state: bounded, strict (unknown fields, trailing data), every entry
// consistent; a link, FIFO or device in its place is refused, never followed. A damaged
// memory is an [*install.StateError] (exit 3), never a reset.
func readSeen(sd *safefs.Dir) (*seenDoc, error) {
	d := &seenDoc{Type: seenType, Channels: map[string]Seen{}}
	b, err := sd.ReadFile(seenFile, maxSeenSize)
	if errors.Is(err, unix.ENOENT) {
		return d, nil
	}
	if err == nil {
		err = strictJSON(b, d)
	}
	if err == nil {
		err = d.check()
	}
	if err != nil {
		return nil, &install.StateError{File: seenFile, Err: fmt.Errorf("not a patchkit channel memory (%w): refusing to forget the sequences seen", err)}
	}
	if d.Channels == nil {
		d.Channels = map[string]Seen{}
	}
	return d, nil
}

func (d *seenDoc) check() error {
	if d.Type != seenType {
		return fmt.Errorf("type %q, want %q", d.Type, seenType)
	}
	for k, s := range d.Channels {
		if _, err := time.Parse(time.RFC3339, s.SeenAt); k == "" || s.Channel != k || s.Sequence < 0 || err != nil {
			return fmt.Errorf("entry %q is inconsistent", k)
		}
	}
	return nil
}

// Check applies the machine's rules to a verified index of channel ref at time at: the
// index names the channel asked for, has not expired, and is not older than the
// highest index this machine accepted (seen; nil when none). Each failure is an
// [*Error] of its own kind.
func Check(v *Verified, ref Ref, at time.Time, seen *Seen) error {
	if ref.Tag != "" && v.Tag() != ref.Tag {
		return integrity("the index at %s is of channel %q (an index of another channel)", ref, v.Channel)
	}
	exp, _ := time.Parse(time.RFC3339, v.Expires)
	if !at.Before(exp) {
		return &Error{Kind: KindStale, Err: fmt.Errorf("index %d of %s expired at %s (now %s): the publisher stopped refreshing it or someone replays an old one",
			v.Sequence, ref, v.Expires, at.UTC().Format(time.RFC3339))}
	}
	if seen == nil {
		return nil
	}
	switch {
	case v.Sequence < seen.Sequence:
		return &Error{Kind: KindRollback, Err: fmt.Errorf("index %d of %s is older than index %d this machine accepted on %s", v.Sequence, ref, seen.Sequence, seen.SeenAt)}
	case v.Sequence == seen.Sequence && v.Digest != seen.Digest:
		return &Error{Kind: KindRollback, Err: fmt.Errorf("index %d of %s differs from the index %d this machine accepted (%s, now %s)", v.Sequence, ref, seen.Sequence, seen.Digest, v.Digest)}
	}
	return nil
}

// Action is one change an update makes, or would make with --check.
type Action struct {
	Op        string           `json:"op"` // install, supersede, remove, retire
	Bundle    *Entry           `json:"bundle,omitempty"`
	Installed *install.Install `json:"installed,omitempty"`
	Reason    string           `json:"reason"`
	Result    *install.Result  `json:"result,omitempty"` // when done
}

// Report is the outcome of [Update].
type Report struct {
	Type      string          `json:"type"`
	Channel   string          `json:"channel"`
	Root      string          `json:"root"`
	Sequence  int64           `json:"index_sequence"`
	Digest    string          `json:"index_digest"`
	Expires   string          `json:"index_expires"`
	Signers   []verify.Signer `json:"signers"`
	Check     bool            `json:"check"` // nothing was changed: the actions are available
	Actions   []Action        `json:"actions"`
	Pending   []string        `json:"pending,omitempty"` // folds the tree is not ready for
	Recall    int64           `json:"recall_sequence,omitempty"`
	BytesRead int64           `json:"bytes_fetched"`
	IndexTime time.Duration   `json:"index_fetch_ns"` // resolving, fetching and verifying the index
}

// ReportType is the type of a [Report].
const ReportType = "patchkit.update/v1"

// UpdateOptions configure [Update].
type UpdateOptions struct {
	Policy *verify.Policy // whom to trust: the index, the recall list and every bundle
	Check  bool           // report what is available; change nothing in the tree
	At     time.Time      // evaluation time; zero means now
	Root   string         // the tree t was opened on (for fold checks)
}

// Update runs the machine's side of a channel on the opened target t (see
// docs/channels.md): fetch and check the index, record the recall list it names,
// decide what applies to the tree, and unless o.Check, do it, each change one
// install transition. It is idempotent.
func Update(ctx context.Context, r *Repo, t *install.Target, o *UpdateOptions) (*Report, error) {
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	t0 := time.Now()
	v, err := FetchIndex(ctx, r, o.Policy)
	if err != nil {
		return nil, err
	}
	indexTime := time.Since(t0)
	sd, err := openStateDir(t)
	if err != nil {
		return nil, err
	}
	defer sd.Close()
	seen, err := readSeen(sd)
	if err != nil {
		return nil, err
	}
	key := v.Channel // signed: mirrors of a channel share the memory
	var prev *Seen
	if s, ok := seen.Channels[key]; ok {
		prev = &s
	}
	if err := Check(v, r.Ref, at, prev); err != nil {
		return nil, err
	}
	if prev == nil || prev.Sequence < v.Sequence {
		seen.Channels[key] = Seen{Channel: v.Channel, Sequence: v.Sequence, Digest: v.Digest, Expires: v.Expires, SeenAt: at.UTC().Format(time.RFC3339)}
		b, err := jsonIndent(seen)
		if err != nil {
			return nil, err
		}
		if err := sd.WriteFile(seenFile, b, 0o600); err != nil {
			return nil, fmt.Errorf("recording index %d of %s: %w", v.Sequence, r.Ref, err)
		}
	}
	rep := &Report{Type: ReportType, Channel: r.Ref.String(), Root: o.Root, Sequence: v.Sequence, Digest: v.Digest,
		Expires: v.Expires, Signers: v.Signers, Check: o.Check, Actions: []Action{}, IndexTime: indexTime}
	if v.Recall != nil {
		l, err := fetchRecall(ctx, r, *v.Recall, o.Policy)
		if err != nil {
			return nil, err
		}
		// An expired list is refused, not dropped: dropping it would un-recall what it names.
		if err := l.CheckExpiry(at); err != nil {
			return nil, &verify.Error{Check: verify.CheckRecall, Err: fmt.Errorf("the channel's %w", err)}
		}
		if err := t.SetRecall(recallOf(l)); err != nil {
			return nil, err
		}
		rep.Recall = l.Sequence
	}
	actions, pending, err := plan(v.Index, t, o)
	if err != nil {
		return nil, err
	}
	rep.Pending = pending
	defer func() { rep.BytesRead = r.BytesFetched() }()
	if o.Check {
		rep.Actions = actions
		return rep, nil
	}
	for _, a := range actions {
		var res *install.Result
		switch a.Op {
		case "install", "supersede":
			res, err = installEntry(ctx, r, t, sd, a.Bundle, o)
		case "remove":
			res, err = t.Remove(ctx, a.Installed.Digest)
		case "retire":
			res, err = t.Retire(ctx, a.Installed.Digest, a.Bundle.FoldedInto)
		}
		if err != nil {
			return rep, fmt.Errorf("%s %s: %w", a.Op, name(a), err)
		}
		a.Result = res
		rep.Actions = append(rep.Actions, a)
	}
	return rep, nil
}

func name(a Action) string {
	if a.Bundle != nil {
		return a.Bundle.ID
	}
	return a.Installed.ID
}

// plan decides what the index asks of the tree, in this order for each installed
// bundle: fold (the tree holds the release it is folded into), recall (install the
// current reissue over it in one transition, or remove it), upgrade (a newer current
// bundle for its base); then, for each component with nothing installed, install the
// current bundle of the base version the tree holds.
func plan(ix *Index, t *install.Target, o *UpdateOptions) ([]Action, []string, error) {
	var out []Action
	var pending []string
	st := t.State()
	recalled := map[string]string{}
	for _, in := range t.Recalled() {
		recalled[in.Digest] = st.Recall.Entries[in.Digest]
	}
	busy := map[string]bool{}
	for i := range st.Installed {
		in := &st.Installed[i]
		for _, c := range in.Components {
			busy[c.Name] = true
		}
		if len(in.Components) != 1 {
			continue // not a channel bundle
		}
		c := in.Components[0]
		e := ix.Find(in.Digest)
		if e != nil && e.FoldedInto != "" {
			ok, where, err := matches(o.Root, ix.Release(c.Name, e.FoldedInto))
			if err != nil {
				return nil, nil, err
			}
			if ok {
				out = append(out, Action{Op: "retire", Bundle: e, Installed: in, Reason: fmt.Sprintf("the tree holds %s %s, which carries this fix", c.Name, e.FoldedInto)})
				continue
			}
			pending = append(pending, fmt.Sprintf("%s is folded into %s %s; the tree does not hold it yet (%s differs)", in.ID, c.Name, e.FoldedInto, where))
		}
		reason, isRecalled := recalled[in.Digest]
		if e != nil && e.Status == StatusRecalled && !isRecalled {
			isRecalled, reason = true, "recalled by the channel index"
		}
		cur := ix.Current(c.Name, c.BaseVersion)
		switch {
		case isRecalled && cur != nil && cur.Digest != in.Digest:
			out = append(out, Action{Op: "supersede", Bundle: cur, Installed: in, Reason: fmt.Sprintf("%s is recalled (%s); %s replaces it", in.ID, reason, cur.ID)})
		case isRecalled:
			out = append(out, Action{Op: "remove", Installed: in, Reason: fmt.Sprintf("%s is recalled (%s) and has no reissue", in.ID, reason)})
		case cur != nil && cur.Digest != in.Digest && cur.Sequence > in.Sequence:
			out = append(out, Action{Op: "supersede", Bundle: cur, Installed: in, Reason: fmt.Sprintf("%s (sequence %d) is newer than %s (sequence %d)", cur.ID, cur.Sequence, in.ID, in.Sequence)})
		}
	}
	retired := map[string]bool{}
	for _, rt := range st.Retired {
		retired[rt.Digest] = true
	}
	allowed := map[string]bool{}
	for _, c := range o.Policy.Components {
		allowed[c] = true
	}
	for i := range ix.Bundles {
		e := &ix.Bundles[i]
		if e.Status != StatusCurrent || busy[e.Component] || retired[e.Digest] || (len(allowed) > 0 && !allowed[e.Component]) {
			continue
		}
		ok, _, err := matches(o.Root, ix.Release(e.Component, e.BaseVersion))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			busy[e.Component] = true
			out = append(out, Action{Op: "install", Bundle: e, Reason: fmt.Sprintf("the tree holds %s %s", e.Component, e.BaseVersion)})
		}
	}
	return out, pending, nil
}

// installEntry downloads the bundle e names into a new file (O_EXCL, never a link) of
// the state directory sd, checks it is the bytes the index names and the bundle the
// index names, and applies it: its own signatures and the policy are checked again by
// install's verification step. The bundle is read back through the descriptor that
// wrote it, never by name.
func installEntry(ctx context.Context, r *Repo, t *install.Target, sd *safefs.Dir, e *Entry, o *UpdateOptions) (*install.Result, error) {
	f, tmp, err := sd.CreateTemp("", downloadPrefix)
	if err != nil {
		return nil, fmt.Errorf("downloading bundle %s: %w", e.ID, err)
	}
	defer sd.Remove(tmp, false)
	defer f.Close()
	if err := r.fetchBlob(ctx, e.Blob, "bundle "+e.ID, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	br, err := bundle.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", e.ID, err)
	}
	if br.Digest() != e.Digest {
		return nil, integrity("bundle %s: its manifest digest is %s, the index names %s", e.ID, br.Digest(), e.Digest)
	}
	m := br.Manifest()
	if m.Sequence != e.Sequence || len(m.Components) != 1 || m.Components[0].Name != e.Component || m.Components[0].BaseVersion != e.BaseVersion {
		return nil, integrity("bundle %s: its manifest disagrees with the index entry", e.ID)
	}
	return t.Apply(ctx, br, Verifier(o.Policy, o.At))
}

// Verifier is the [install.VerifyFunc] of a channel install: the bundle's signatures
// and policy (pkg/verify), with the target's floors and recall list.
func Verifier(p *verify.Policy, at time.Time) install.VerifyFunc {
	return func(ctx context.Context, manifest []byte, sigs []bundle.Signature, floors map[string]int64, rc *install.Recall) error {
		o := &verify.Options{At: at, Floors: floors}
		if rc != nil {
			// recorded after it verified; its expiry still applies
			l, err := verify.RecallRecord(*rc).List()
			if err != nil {
				return err
			}
			o.Recalls = append(o.Recalls, l)
		}
		_, err := verify.Manifest(ctx, manifest, sigs, p, o)
		return err
	}
}

// recallOf converts a verified recall list for the install state.
func recallOf(l *verify.RecallList) *install.Recall {
	rc := install.Recall(l.Record())
	return &rc
}
