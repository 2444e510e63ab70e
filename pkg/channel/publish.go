package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// DefaultTTL is how long an index stays valid when the publisher does not say: short,
// so a registry or mirror that replays an old index (a freeze attack) is caught within
// a day; a release pipeline refreshes the index on a timer well before.
const DefaultTTL = 24 * time.Hour

// Publisher changes a channel: it loads the index in force, adds bundles, a recall
// list or a fold to it, and commits a new signed index with the next sequence.
type Publisher struct {
	Repo    *Repo
	Signers []sign.Signer // sign the index (k-of-n: each signer counts once)
	// Trust verifies what is published: every bundle (signatures, policy, payloads), the
	// recall list, and the index being replaced, so that a forged entry in the registry
	// is never carried forward under a new signature.
	Trust *verify.Policy
	TTL   time.Duration // index lifetime; 0 means DefaultTTL
	Now   func() time.Time

	ix     *Index
	loaded string // manifest digest of the index loaded; "" for a new channel
	recall *verify.RecallList
	pushed int // blobs pushed, for reports
}

// Load fetches and verifies the index in force, or starts an empty one when the
// channel does not exist yet. It must be called first.
func (p *Publisher) Load(ctx context.Context) (*Index, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	v, err := FetchIndex(ctx, p.Repo, p.Trust)
	var ce *Error
	switch {
	case errors.As(err, &ce) && ce.Kind == KindMissing:
		p.ix = &Index{Channel: p.Repo.Ref.name(), Bundles: []Entry{}, Releases: []Release{}}
		return p.ix, nil
	case err != nil:
		return nil, fmt.Errorf("loading the index in force: %w", err)
	}
	if v.Tag() != p.Repo.Ref.Tag {
		return nil, integrity("the index tagged %s is of channel %s", p.Repo.Ref.Tag, v.Channel)
	}
	p.ix, p.loaded = v.Index, v.Manifest
	if v.Recall != nil {
		if p.recall, err = fetchRecall(ctx, p.Repo, *v.Recall, p.Trust); err != nil {
			return nil, err
		}
	}
	return p.ix, nil
}

// Index returns the index being prepared.
func (p *Publisher) Index() *Index { return p.ix }

// fileBlob hashes a file to describe it as a blob.
func fileBlob(path, mediaType string) (Blob, error) {
	f, err := os.Open(path)
	if err != nil {
		return Blob{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Blob{}, err
	}
	return Blob{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), MediaType: mediaType, Size: n}, nil
}

// AddBundle verifies the bundle file against Trust, pushes it (blob, then its
// manifest with annotations, tagged pkb-...) and makes it the current bundle of its
// component's base version. A bundle must patch exactly one component.
func (p *Publisher) AddBundle(ctx context.Context, path string) (*Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := bundle.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	if _, err := verify.Bundle(ctx, r, p.Trust, &verify.Options{At: p.Now()}); err != nil {
		return nil, fmt.Errorf("bundle %s: refusing to publish: %w", path, err)
	}
	m := r.Manifest()
	if len(m.Components) != 1 {
		return nil, fmt.Errorf("bundle %s patches %d components: a channel entry is one component", path, len(m.Components))
	}
	c := m.Components[0]
	b, err := fileBlob(path, MediaTypeBundle)
	if err != nil {
		return nil, err
	}
	if old := p.ix.Find(r.Digest()); old != nil {
		if old.Blob != b {
			return nil, fmt.Errorf("bundle %s (%s) is already in the channel as a different file", m.ID, r.Digest())
		}
		return old, nil
	}
	for _, e := range p.ix.Bundles {
		if e.Component == c.Name && e.BaseVersion == c.BaseVersion && e.Sequence >= m.Sequence {
			return nil, fmt.Errorf("bundle %s has sequence %d, not above %s (sequence %d) for %s %s", m.ID, m.Sequence, e.ID, e.Sequence, c.Name, c.BaseVersion)
		}
	}
	// The base's identity: what the bundle expects at every path it touches.
	var files []PathNode
	for _, bf := range m.Files {
		files = append(files, PathNode{Path: bf.Path, Node: bf.Base})
	}
	if err := p.mergeRelease(c.Name, c.BaseVersion, files); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", m.ID, err)
	}
	if err := p.Repo.pushBlob(ctx, b, func() (io.ReadCloser, error) { return os.Open(path) }); err != nil {
		return nil, err
	}
	p.pushed++
	ann := map[string]string{
		AnnotationComponent: c.Name, AnnotationBaseVersion: c.BaseVersion, AnnotationLabel: m.Label,
		AnnotationSequence: strconv.FormatInt(m.Sequence, 10), AnnotationDigest: r.Digest(),
	}
	if _, err := p.Repo.pushArtifact(ctx, ArtifactTypeBundle, b, ann, tagOf(r.Digest())); err != nil {
		return nil, err
	}
	p.ix.Bundles = append(p.ix.Bundles, Entry{
		BaseVersion: c.BaseVersion, Blob: b, Component: c.Name, Digest: r.Digest(), ID: m.ID,
		Label: m.Label, Sequence: m.Sequence, TargetVersion: c.TargetVersion,
	})
	p.restatus()
	return p.ix.Find(r.Digest()), nil
}

// mergeRelease adds files to the identity of a component's version; a path the
// identity has already must agree.
func (p *Publisher) mergeRelease(component, version string, files []PathNode) error {
	rel := p.ix.Release(component, version)
	if rel == nil {
		p.ix.Releases = append(p.ix.Releases, Release{Component: component, Version: version})
		rel = &p.ix.Releases[len(p.ix.Releases)-1]
	}
	have := map[string]*bundle.Node{}
	for _, f := range rel.Files {
		have[f.Path] = f.Node
	}
	for _, f := range files {
		if n, ok := have[f.Path]; ok {
			if !sameNode(n, f.Node) {
				return fmt.Errorf("%s %s: %s differs from what the channel already records for that version", component, version, f.Path)
			}
			continue
		}
		have[f.Path] = f.Node
		rel.Files = append(rel.Files, f)
	}
	sort.Slice(rel.Files, func(i, j int) bool { return rel.Files[i].Path < rel.Files[j].Path })
	return nil
}

// AddRecall verifies the recall list file against Trust, pushes it and puts it in
// force: the bundles it names become recalled, and the newest other bundle of each of
// their bases current again. It must be newer than the list in force.
func (p *Publisher) AddRecall(ctx context.Context, path string) (*verify.RecallList, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := verify.ParseRecallList(raw, p.Trust)
	if err != nil {
		return nil, fmt.Errorf("recall list %s: %w", path, err)
	}
	if p.recall != nil && l.Sequence <= p.recall.Sequence {
		return nil, fmt.Errorf("recall list %s has sequence %d, not above the list in force (%d)", path, l.Sequence, p.recall.Sequence)
	}
	b, err := fileBlob(path, MediaTypeRecall)
	if err != nil {
		return nil, err
	}
	if err := p.Repo.pushBlob(ctx, b, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }); err != nil {
		return nil, err
	}
	p.pushed++
	if _, err := p.Repo.pushArtifact(ctx, ArtifactTypeRecall, b, map[string]string{AnnotationSequence: strconv.FormatInt(l.Sequence, 10)}, fmt.Sprintf("recall-%d", l.Sequence)); err != nil {
		return nil, err
	}
	// Each recalled bundle of the channel gets the list as a referrer (OCI 1.1 subject;
	// oras-go falls back to the referrers tag schema on registries without the API), so
	// "oras discover" and "patchkit pull" show the recall next to the bundle. Machines
	// do not rely on it: the index names the list in force.
	for d := range l.Entries {
		if p.ix.Find(d) == nil {
			continue
		}
		if err := p.Repo.pushReferrer(ctx, tagOf(d), ArtifactTypeRecall, b, map[string]string{AnnotationSequence: strconv.FormatInt(l.Sequence, 10)}); err != nil {
			return nil, err
		}
	}
	p.recall, p.ix.Recall = l, &b
	p.restatus()
	return l, nil
}

// Fold records that the full release version of component, whose tree is at
// releaseTree, carries the fixes of every bundle of the component the channel holds:
// a machine whose tree holds that release at every path those bundles touch drops
// their install state without touching a file ([Update]). It returns the bundles
// folded.
func (p *Publisher) Fold(component, version, releaseTree string) ([]Entry, error) {
	if err := checkName("release version", version); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var paths []string
	var folded []int
	for i, e := range p.ix.Bundles {
		if e.Component != component || e.FoldedInto != "" {
			continue
		}
		folded = append(folded, i)
		for _, f := range p.ix.Release(component, e.BaseVersion).Files {
			if !seen[f.Path] {
				seen[f.Path] = true
				paths = append(paths, f.Path)
			}
		}
	}
	if len(folded) == 0 {
		return nil, fmt.Errorf("the channel has no bundle of %s left to fold", component)
	}
	sort.Strings(paths)
	files, err := identity(releaseTree, paths)
	if err != nil {
		return nil, err
	}
	if err := p.mergeRelease(component, version, files); err != nil {
		return nil, err
	}
	var out []Entry
	for _, i := range folded {
		p.ix.Bundles[i].FoldedInto = version
		out = append(out, p.ix.Bundles[i])
	}
	return out, nil
}

// restatus derives every entry's status: recalled when the list in force names it;
// otherwise, per component and base version, the highest sequence is current and the
// rest superseded.
func (p *Publisher) restatus() {
	best := map[[2]string]int{}
	for i := range p.ix.Bundles {
		e := &p.ix.Bundles[i]
		e.Status = StatusSuperseded
		if p.recall != nil {
			if _, ok := p.recall.Entries[e.Digest]; ok {
				e.Status = StatusRecalled
				continue
			}
		}
		k := [2]string{e.Component, e.BaseVersion}
		if j, ok := best[k]; !ok || p.ix.Bundles[j].Sequence < e.Sequence {
			best[k] = i
		}
	}
	for _, i := range best {
		p.ix.Bundles[i].Status = StatusCurrent
	}
}

// Committed describes a new index.
type Committed struct {
	Sequence int64  `json:"sequence"`
	Digest   string `json:"digest"`   // of the index document
	Manifest string `json:"manifest"` // the OCI manifest the channel tag points at
	Expires  string `json:"expires"`
	Bundles  int    `json:"bundles"`
	Pushed   int    `json:"pushed"` // bundle and recall blobs pushed by this publisher
}

// Commit signs the index with the next sequence and a fresh expiry, pushes it and
// moves the channel tag to it: the last step, so every blob it names is already there.
func (p *Publisher) Commit(ctx context.Context) (*Committed, error) {
	if len(p.Signers) == 0 {
		return nil, errors.New("no signer for the channel index")
	}
	now := p.Now().UTC().Truncate(time.Second)
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if p.recall != nil {
		if err := p.recall.CheckExpiry(now); err != nil {
			return nil, fmt.Errorf("the channel's recall list: %w: publish a new one with --recall (machines refuse an expired list)", err)
		}
	}
	p.ix.Sequence++
	p.ix.Issued, p.ix.Expires = now.Format(time.RFC3339), now.Add(ttl).Format(time.RFC3339)
	doc, err := MarshalIndex(p.ix)
	if err != nil {
		return nil, err
	}
	sigs, err := sign.Signatures(ctx, doc, nil, p.Signers)
	if err != nil {
		return nil, err
	}
	raw, err := MarshalSignedIndex(doc, sigs)
	if err != nil {
		return nil, err
	}
	// The publisher must be able to read back what it wrote.
	if _, err := ParseIndex(raw, p.Trust); err != nil {
		return nil, fmt.Errorf("the new index does not verify against the publish trust: %w", err)
	}
	b := Blob{Digest: "sha256:" + hexSum(raw), MediaType: MediaTypeIndex, Size: int64(len(raw))}
	if err := p.Repo.pushBlob(ctx, b, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }); err != nil {
		return nil, err
	}
	// Two publishers at once would lose one's change: refuse when the channel moved
	// since Load (the window left is the one between this check and the tag).
	if now, err := p.Repo.tagDigest(ctx, p.Repo.Ref.Tag); err != nil {
		return nil, err
	} else if now != p.loaded {
		return nil, fmt.Errorf("the channel %s changed while publishing (index manifest %s, loaded %s): publish again", p.Repo.Ref, now, p.loaded)
	}
	desc, err := p.Repo.pushArtifact(ctx, ArtifactTypeIndex, b, map[string]string{AnnotationIndexSeq: strconv.FormatInt(p.ix.Sequence, 10)}, p.Repo.Ref.Tag)
	if err != nil {
		return nil, err
	}
	return &Committed{Sequence: p.ix.Sequence, Digest: bundle.Digest(doc), Manifest: desc.Digest.String(),
		Expires: p.ix.Expires, Bundles: len(p.ix.Bundles), Pushed: p.pushed}, nil
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
