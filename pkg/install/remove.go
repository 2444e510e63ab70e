package install

import "context"

// Remove restores the base of the installed bundle named by ref (see [Target.Find]) bit
// for bit, with the owner each path had, and proves it by digest. Every path must
// still hold what the bundle installed: a drifted path is refused with a [DriftError]
// and nothing is restored (see [Target.Retire] for a tree a full release moved past).
// Floors stay: the removed sequence cannot be replaced by an older one.
func (t *Target) Remove(ctx context.Context, ref string) (*Result, error) {
	cur, err := t.Find(ref)
	if err != nil {
		return nil, err
	}
	res, err := t.transition(ctx, "remove", cur, nil, nil, nil, nextState(t.st, cur, nil))
	if err != nil {
		return nil, err
	}
	res.Digest, res.ID, res.Label, res.Sequence = cur.Digest, cur.ID, cur.Label, cur.Sequence
	return res, nil
}

// SetRecall records rc as the newest recall list seen, if it is newer than the one
// recorded. The caller has verified rc.
func (t *Target) SetRecall(rc *Recall) error {
	if rc == nil || (t.st.Recall != nil && t.st.Recall.Sequence >= rc.Sequence) {
		return nil
	}
	st := cloneState(t.st)
	st.LastRecovery = t.st.LastRecovery
	st.Recall = rc
	if err := t.checkState(st); err != nil {
		return err
	}
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
