package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/patchkit/patchkit/internal/canonjson"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"
)

// Index document types.
const (
	IndexType       = "patchkit.channel-index/v1"        // the signed document
	SignedIndexType = "patchkit.signed-channel-index/v1" // the blob: document plus signatures
)

// Entry status values.
const (
	StatusCurrent    = "current"    // the bundle to install on its base
	StatusSuperseded = "superseded" // a newer bundle for the same base is current
	StatusRecalled   = "recalled"   // named by the recall list in force
)

// Limits of what a reader accepts.
const (
	maxIndexSize     = 8 << 20 // signed index blob
	maxEntries       = 10_000
	maxReleases      = 10_000
	maxReleaseFiles  = 100_000
	maxNameLen       = 256
	maxSignatures    = 32
	maxManifestBytes = 64 << 10 // OCI manifest of any patchkit artifact
)

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// tagRE is the OCI distribution tag grammar: the channel's tag.
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	// channelRE is a channel's name: a repository path and its tag.
	channelRE = regexp.MustCompile(`^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// Index is the signed channel index: per component and base version, which bundle is
// current, which are superseded or recalled, and which full release folds a fix in.
// Its canonical encoding (compact JSON, keys sorted, lists sorted, no HTML escaping; see
// internal/canonjson) is what the signatures cover. Fields are declared in the order
// of their JSON names.
type Index struct {
	Bundles  []Entry   `json:"bundles"`          // sorted by component, base version, sequence
	Channel  string    `json:"channel"`          // NAME:TAG, fixed at the first publish; TAG is the tag machines resolve
	Expires  string    `json:"expires"`          // RFC 3339 UTC; a machine refuses the index after it
	Issued   string    `json:"issued"`           // RFC 3339 UTC
	Recall   *Blob     `json:"recall,omitempty"` // the signed recall list in force, a blob of the repository
	Releases []Release `json:"releases"`         // identities of base versions and full releases
	Sequence int64     `json:"sequence"`         // increases with every index; machines refuse a lower one
	Type     string    `json:"type"`
}

// Entry is one bundle of the channel.
type Entry struct {
	BaseVersion   string `json:"base_version"`
	Blob          Blob   `json:"blob"` // the .pkb file in the repository
	Component     string `json:"component"`
	Digest        string `json:"digest"`                // bundle digest: sha256 of its manifest
	FoldedInto    string `json:"folded_into,omitempty"` // the full release (a Releases version) that carries this fix
	ID            string `json:"id"`
	Label         string `json:"label"`
	Sequence      int64  `json:"sequence"`
	Status        string `json:"status"` // current, superseded or recalled
	TargetVersion string `json:"target_version,omitempty"`
}

// Blob is an OCI content descriptor, reduced to what a machine needs to fetch and check
// one blob: sha256 digest, exact size and media type.
type Blob struct {
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
}

// Release identifies a version of a component by what its tree holds at the paths the
// channel's bundles touch: a tree is "at" the release when every path matches.
type Release struct {
	Component string     `json:"component"`
	Files     []PathNode `json:"files"` // sorted by path
	Version   string     `json:"version"`
}

// PathNode is what a release has at one path; a nil Node means the path is absent.
type PathNode struct {
	Node *bundle.Node `json:"node,omitempty"`
	Path string       `json:"path"`
}

// SignedIndex is the index blob: the exact document text and one Sigstore bundle per
// signer over it.
type SignedIndex struct {
	Document   string            `json:"document"`
	Signatures []json.RawMessage `json:"signatures"`
	Type       string            `json:"type"`
}

// Verified is an index whose signatures passed a policy.
type Verified struct {
	*Index
	Digest   string // sha256 of the document
	Manifest string // digest of the OCI manifest it came in (set by FetchIndex)
	Signers  []verify.Signer
}

// Tag returns the tag part of the channel name.
func (ix *Index) Tag() string { return ix.Channel[strings.LastIndex(ix.Channel, ":")+1:] }

// Current returns the current entry for a component's base version, or nil.
func (ix *Index) Current(component, baseVersion string) *Entry {
	for i := range ix.Bundles {
		e := &ix.Bundles[i]
		if e.Component == component && e.BaseVersion == baseVersion && e.Status == StatusCurrent {
			return e
		}
	}
	return nil
}

// Find returns the entry with the bundle digest d, or nil.
func (ix *Index) Find(d string) *Entry {
	for i := range ix.Bundles {
		if ix.Bundles[i].Digest == d {
			return &ix.Bundles[i]
		}
	}
	return nil
}

// Release returns the identity of a component's version, or nil.
func (ix *Index) Release(component, version string) *Release {
	for i := range ix.Releases {
		if r := &ix.Releases[i]; r.Component == component && r.Version == version {
			return r
		}
	}
	return nil
}

// sortIndex puts every list in canonical order.
func (ix *Index) sortIndex() {
	sort.Slice(ix.Bundles, func(i, j int) bool {
		a, b := ix.Bundles[i], ix.Bundles[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if a.BaseVersion != b.BaseVersion {
			return a.BaseVersion < b.BaseVersion
		}
		if a.Sequence != b.Sequence {
			return a.Sequence < b.Sequence
		}
		return a.Digest < b.Digest
	})
	sort.Slice(ix.Releases, func(i, j int) bool {
		a, b := ix.Releases[i], ix.Releases[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.Version < b.Version
	})
	for i := range ix.Releases {
		f := ix.Releases[i].Files
		sort.Slice(f, func(i, j int) bool { return f[i].Path < f[j].Path })
	}
}

// MarshalIndex sorts and validates ix and returns its canonical encoding.
func MarshalIndex(ix *Index) ([]byte, error) {
	ix.Type = IndexType
	if ix.Bundles == nil {
		ix.Bundles = []Entry{}
	}
	if ix.Releases == nil {
		ix.Releases = []Release{}
	}
	ix.sortIndex()
	if err := ix.validate(); err != nil {
		return nil, err
	}
	return canonjson.Marshal(ix)
}

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%s must be 1-%d bytes", what, maxNameLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("%s %q holds a control character", what, s)
		}
	}
	return nil
}

func (b *Blob) validate(what string) error {
	if !digestRE.MatchString(b.Digest) {
		return fmt.Errorf("%s: digest %q is not sha256:<64 hex>", what, b.Digest)
	}
	if b.Size < 1 || b.Size > maxBlobSize {
		return fmt.Errorf("%s: size %d out of range 1..%d", what, b.Size, maxBlobSize)
	}
	if b.MediaType != MediaTypeBundle && b.MediaType != MediaTypeRecall {
		return fmt.Errorf("%s: media type %q is not a patchkit blob", what, b.MediaType)
	}
	return nil
}

// validate checks every rule a reader relies on; the lists must be sorted already.
func (ix *Index) validate() error {
	if ix.Type != IndexType {
		return fmt.Errorf("index type %q, want %q", ix.Type, IndexType)
	}
	if len(ix.Channel) > maxNameLen || !channelRE.MatchString(ix.Channel) {
		return fmt.Errorf("channel name %q is not REPOSITORY:TAG", ix.Channel)
	}
	if ix.Sequence < 1 || ix.Sequence > 1<<53-1 {
		return fmt.Errorf("index sequence %d out of range 1..2^53-1", ix.Sequence)
	}
	issued, err := time.Parse(time.RFC3339, ix.Issued)
	if err != nil {
		return fmt.Errorf("index issued time: %w", err)
	}
	expires, err := time.Parse(time.RFC3339, ix.Expires)
	if err != nil {
		return fmt.Errorf("index expiry: %w", err)
	}
	if !expires.After(issued) {
		return errors.New("index expires before it is issued")
	}
	if len(ix.Bundles) > maxEntries || len(ix.Releases) > maxReleases {
		return fmt.Errorf("index has more than %d entries or %d releases", maxEntries, maxReleases)
	}
	if ix.Recall != nil {
		if err := ix.Recall.validate("recall list"); err != nil {
			return err
		}
		if ix.Recall.MediaType != MediaTypeRecall {
			return fmt.Errorf("recall list: media type %q, want %q", ix.Recall.MediaType, MediaTypeRecall)
		}
	}
	releases := map[[2]string]bool{}
	files := 0
	for i, r := range ix.Releases {
		if err := checkName("release component", r.Component); err != nil {
			return err
		}
		if err := checkName("release version", r.Version); err != nil {
			return err
		}
		k := [2]string{r.Component, r.Version}
		if releases[k] {
			return fmt.Errorf("release %s %s listed twice", r.Component, r.Version)
		}
		releases[k] = true
		if len(r.Files) == 0 {
			return fmt.Errorf("release %s %s names no file", r.Component, r.Version)
		}
		files += len(r.Files)
		if files > maxReleaseFiles {
			return fmt.Errorf("releases name more than %d files", maxReleaseFiles)
		}
		for j, f := range r.Files {
			if err := bundle.CheckPath(f.Path); err != nil {
				return fmt.Errorf("release %d: %w", i, err)
			}
			if j > 0 && r.Files[j-1].Path >= f.Path {
				return fmt.Errorf("release %s %s: files not sorted or duplicated at %s", r.Component, r.Version, f.Path)
			}
			if n := f.Node; n != nil && n.Type != bundle.TypeFile && n.Type != bundle.TypeDir && n.Type != bundle.TypeSymlink {
				return fmt.Errorf("release %s %s: %s has type %q", r.Component, r.Version, f.Path, n.Type)
			}
		}
	}
	seen := map[string]bool{}
	current := map[[2]string]bool{}
	for i, e := range ix.Bundles {
		what := fmt.Sprintf("bundle %d", i)
		if !digestRE.MatchString(e.Digest) {
			return fmt.Errorf("%s: digest %q is not sha256:<64 hex>", what, e.Digest)
		}
		if seen[e.Digest] {
			return fmt.Errorf("bundle %s listed twice", e.Digest)
		}
		seen[e.Digest] = true
		if err := e.Blob.validate(what); err != nil {
			return err
		}
		if e.Blob.MediaType != MediaTypeBundle {
			return fmt.Errorf("%s: media type %q, want %q", what, e.Blob.MediaType, MediaTypeBundle)
		}
		for _, c := range []struct{ what, s string }{{"component", e.Component}, {"base version", e.BaseVersion}, {"id", e.ID}, {"label", e.Label}} {
			if err := checkName(what+" "+c.what, c.s); err != nil {
				return err
			}
		}
		if e.Sequence < 1 || e.Sequence > 1<<53-1 {
			return fmt.Errorf("%s: sequence %d out of range", what, e.Sequence)
		}
		switch e.Status {
		case StatusCurrent:
			k := [2]string{e.Component, e.BaseVersion}
			if current[k] {
				return fmt.Errorf("two current bundles for %s %s", e.Component, e.BaseVersion)
			}
			current[k] = true
		case StatusSuperseded, StatusRecalled:
		default:
			return fmt.Errorf("%s: status %q", what, e.Status)
		}
		if !releases[[2]string{e.Component, e.BaseVersion}] {
			return fmt.Errorf("%s: no release identity for its base %s %s", what, e.Component, e.BaseVersion)
		}
		if e.FoldedInto != "" && !releases[[2]string{e.Component, e.FoldedInto}] {
			return fmt.Errorf("%s: folded into %s %s, which has no release identity", what, e.Component, e.FoldedInto)
		}
	}
	return nil
}

// MarshalSignedIndex assembles the index blob from the canonical document and its
// signatures.
func MarshalSignedIndex(doc []byte, sigs [][]byte) ([]byte, error) {
	f := SignedIndex{Document: string(doc), Type: SignedIndexType, Signatures: []json.RawMessage{}}
	for _, s := range sigs {
		f.Signatures = append(f.Signatures, json.RawMessage(s))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseIndex decodes an index blob strictly and verifies its signatures against p: at
// least p's threshold of distinct trusted signers. Expiry and sequence are the
// caller's rules ([Check]); a signature failure is an [*Error] of kind [KindUntrusted].
func ParseIndex(b []byte, p *verify.Policy) (*Verified, error) {
	if len(b) > maxIndexSize {
		return nil, integrity("index larger than %d bytes", maxIndexSize)
	}
	var f SignedIndex
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, integrity("decoding the index: %v", err)
	}
	if dec.More() {
		return nil, integrity("data after the index")
	}
	if f.Type != SignedIndexType {
		return nil, integrity("index type %q, want %q", f.Type, SignedIndexType)
	}
	if len(f.Signatures) > maxSignatures {
		return nil, integrity("%d index signatures, more than the limit of %d", len(f.Signatures), maxSignatures)
	}
	doc := []byte(f.Document)
	ix := &Index{}
	dec = json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ix); err != nil {
		return nil, integrity("decoding the index document: %v", err)
	}
	ix.sortIndex() // an unsorted list then fails the canonical comparison
	if err := ix.validate(); err != nil {
		return nil, integrity("index document: %v", err)
	}
	if canon, err := canonjson.Marshal(ix); err != nil || !bytes.Equal(canon, doc) {
		return nil, integrity("index document is not in canonical form")
	}
	sigs := make([][]byte, len(f.Signatures))
	for i, s := range f.Signatures {
		sigs[i] = s
	}
	signers, err := verify.Document(doc, sigs, p, 0, "channel_index")
	if err != nil {
		return nil, &Error{Kind: KindUntrusted, Err: fmt.Errorf("index %d of channel %s: %w", ix.Sequence, ix.Channel, err)}
	}
	return &Verified{Index: ix, Digest: bundle.Digest(doc), Signers: signers}, nil
}
