package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/patchkit/patchkit/internal/canonjson"
	"github.com/patchkit/patchkit/pkg/bundle"
)

// Recall list document types.
const (
	RecallType       = "patchkit.recall/v1"        // the signed document
	SignedRecallType = "patchkit.signed-recall/v1" // the file: document plus signatures
)

const (
	maxRecallSize    = 8 << 20
	maxRecallEntries = 100_000
	maxReasonLen     = 1024
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// RecallDocument is the signed content of a recall list. Its canonical encoding (compact
// JSON, keys sorted, entries sorted by digest, no HTML escaping) is what signatures cover.
type RecallDocument struct {
	Entries  []RecallEntry `json:"entries"`
	Issued   string        `json:"issued"`    // RFC 3339 UTC
	NotAfter string        `json:"not_after"` // RFC 3339 UTC expiry, after Issued: an old list cannot be replayed forever
	Sequence int64         `json:"sequence"`
	Type     string        `json:"type"`
}

// RecallEntry names one recalled bundle by its digest.
type RecallEntry struct {
	Digest string `json:"digest"`
	Reason string `json:"reason"`
}

// SignedRecall is the recall list file: the exact document text and one Sigstore bundle
// per signer over it.
type SignedRecall struct {
	Document   string            `json:"document"`
	Signatures []json.RawMessage `json:"signatures"`
	Type       string            `json:"type"`
}

// RecallList is a verified recall list.
type RecallList struct {
	Sequence int64
	Issued   time.Time
	NotAfter time.Time         // zero only for lists rebuilt from a record that lacks it
	Entries  map[string]string // bundle digest → reason
	Digest   string            // sha256 of the document
	Signers  []Signer
}

// RecallRecord is a verified recall list as a target records it (install or channel
// state): what is needed to apply it again, with its expiry. [RecallList.Record] and
// [RecallRecord.List] are the one conversion; pkg/install's Recall has the same fields in
// the same order (NotAfter last), so install.Recall(l.Record()) converts directly.
type RecallRecord struct {
	Sequence int64             `json:"sequence"`
	Digest   string            `json:"digest"`
	Issued   string            `json:"issued,omitempty"`
	Entries  map[string]string `json:"entries"` // bundle digest → reason
	NotAfter string            `json:"not_after,omitempty"`
}

// Record returns what a target records of l.
func (l *RecallList) Record() RecallRecord {
	r := RecallRecord{Sequence: l.Sequence, Digest: l.Digest, Entries: l.Entries}
	if !l.Issued.IsZero() {
		r.Issued = l.Issued.UTC().Format(time.RFC3339)
	}
	if !l.NotAfter.IsZero() {
		r.NotAfter = l.NotAfter.UTC().Format(time.RFC3339)
	}
	return r
}

// List returns the recorded list back, for [Options.Recalls]. It was verified when it
// was recorded; its expiry still applies ([InForce]). A record from before lists carried
// not_after has none.
func (r RecallRecord) List() (*RecallList, error) {
	l := &RecallList{Sequence: r.Sequence, Digest: r.Digest, Entries: r.Entries}
	var err error
	if r.Issued != "" {
		if l.Issued, err = time.Parse(time.RFC3339, r.Issued); err != nil {
			return nil, fmt.Errorf("recorded recall list %d: issued: %w", r.Sequence, err)
		}
	}
	if r.NotAfter != "" {
		if l.NotAfter, err = time.Parse(time.RFC3339, r.NotAfter); err != nil {
			return nil, fmt.Errorf("recorded recall list %d: not_after: %w", r.Sequence, err)
		}
	}
	return l, nil
}

// SortedEntries returns the entries of l sorted by digest.
func (l *RecallList) SortedEntries() []RecallEntry {
	out := make([]RecallEntry, 0, len(l.Entries))
	for d, r := range l.Entries {
		out = append(out, RecallEntry{Digest: d, Reason: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

// CheckExpiry refuses a list whose not_after has passed at at; the error matches
// errors.Is(err, [ErrExpired]).
func (l *RecallList) CheckExpiry(at time.Time) error {
	if !l.NotAfter.IsZero() && at.After(l.NotAfter) {
		return fmt.Errorf("%w: recall list %d expired at %s (checked at %s): get a current list from the publisher",
			ErrExpired, l.Sequence, l.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return nil
}

// MarshalRecallDocument validates d and returns its canonical encoding.
func MarshalRecallDocument(d *RecallDocument) ([]byte, error) {
	d.Type = RecallType
	sort.Slice(d.Entries, func(i, j int) bool { return d.Entries[i].Digest < d.Entries[j].Digest })
	if err := d.validate(); err != nil {
		return nil, err
	}
	return canonjson.Marshal(d)
}

func (d *RecallDocument) validate() error {
	if d.Type != RecallType {
		return fmt.Errorf("recall list type %q, want %q", d.Type, RecallType)
	}
	if d.Sequence < 1 || d.Sequence > 1<<53-1 {
		return fmt.Errorf("recall list sequence %d out of range 1..2^53-1", d.Sequence)
	}
	issued, err := time.Parse(time.RFC3339, d.Issued)
	if err != nil {
		return fmt.Errorf("recall list issued time: %w", err)
	}
	notAfter, err := time.Parse(time.RFC3339, d.NotAfter)
	if err != nil {
		return fmt.Errorf("recall list not_after (every list needs an expiry): %w", err)
	}
	if !notAfter.After(issued) {
		return fmt.Errorf("recall list not_after %s is not after its issue time %s", d.NotAfter, d.Issued)
	}
	if len(d.Entries) > maxRecallEntries {
		return fmt.Errorf("%d recall entries, more than the limit of %d", len(d.Entries), maxRecallEntries)
	}
	for i, e := range d.Entries {
		if !digestRE.MatchString(e.Digest) {
			return fmt.Errorf("recall entry %d: digest %q is not sha256:<64 hex>", i, e.Digest)
		}
		if i > 0 && d.Entries[i-1].Digest >= e.Digest {
			return fmt.Errorf("recall entries not sorted or duplicated at %s", e.Digest)
		}
		if e.Reason == "" || len(e.Reason) > maxReasonLen || !utf8.ValidString(e.Reason) {
			return fmt.Errorf("recall entry %s: reason must be 1-%d bytes of UTF-8", e.Digest, maxReasonLen)
		}
	}
	return nil
}

// MarshalSignedRecall assembles the recall list file from the canonical document and
// its signatures.
func MarshalSignedRecall(doc []byte, sigs [][]byte) ([]byte, error) {
	f := SignedRecall{Document: string(doc), Type: SignedRecallType}
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

// LoadRecallList reads and verifies a recall list file against p's signers.
func LoadRecallList(path string, p *Policy) (*RecallList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := ParseRecallList(b, p)
	if err != nil {
		return nil, fmt.Errorf("recall list %s: %w", path, err)
	}
	return l, nil
}

// ParseRecallList decodes a recall list file and verifies its signatures: at least
// p.RecallThreshold distinct trusted signers, by default the policy's own threshold, so a
// recall list needs the same trust as the bundles it names. A failure is an [*Error] with
// check "recall_list". Expiry is checked where the time is known: [InForce].
func ParseRecallList(b []byte, p *Policy) (*RecallList, error) {
	if len(b) > maxRecallSize {
		return nil, fmt.Errorf("larger than %d bytes", maxRecallSize)
	}
	var f SignedRecall
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if f.Type != SignedRecallType {
		return nil, fmt.Errorf("type %q, want %q", f.Type, SignedRecallType)
	}
	doc := []byte(f.Document)
	var d RecallDocument
	dec = json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("decoding document: %w", err)
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	if canon, err := canonjson.Marshal(&d); err != nil || !bytes.Equal(canon, doc) {
		return nil, errors.New("document is not in canonical form")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	sigs := make([]bundle.Signature, len(f.Signatures))
	for i, s := range f.Signatures {
		sigs[i] = bundle.Signature{Member: fmt.Sprintf("signatures[%d]", i), Data: s}
	}
	signers, n, err := checkSignatures(doc, sigs, p)
	if err != nil {
		return nil, &Error{Check: "recall_list", Err: err}
	}
	if n < p.recallThreshold() {
		return nil, &Error{Check: "recall_list", Err: fmt.Errorf("%d distinct trusted signer(s), %d needed%s", n, p.recallThreshold(), whyNot(signers))}
	}
	issued, _ := time.Parse(time.RFC3339, d.Issued)
	notAfter, _ := time.Parse(time.RFC3339, d.NotAfter)
	l := &RecallList{Sequence: d.Sequence, Issued: issued, NotAfter: notAfter, Entries: map[string]string{}, Digest: bundle.Digest(doc), Signers: signers}
	for _, e := range d.Entries {
		l.Entries[e.Digest] = e.Reason
	}
	return l, nil
}

// Newest returns the recall list in force among lists: the one with the highest
// sequence, so an older list cannot replace a newer one. Two different lists with the
// same sequence are an error.
func Newest(lists []*RecallList) (*RecallList, error) {
	var best *RecallList
	for _, l := range lists {
		switch {
		case l == nil:
		case best == nil || l.Sequence > best.Sequence:
			best = l
		case l.Sequence == best.Sequence && l.Digest != best.Digest:
			return nil, &Error{Check: CheckRecall, Err: fmt.Errorf("%w: two different recall lists with sequence %d (%s and %s)",
				ErrRecallConflict, l.Sequence, best.Digest, l.Digest)}
		}
	}
	return best, nil
}

// InForce returns the recall list in force among lists at time at ([Newest]), refusing
// it when it has expired (errors.Is(err, [ErrExpired])): an expired list is not silently
// dropped, since dropping it would un-recall what it names.
func InForce(lists []*RecallList, at time.Time) (*RecallList, error) {
	l, err := Newest(lists)
	if err != nil || l == nil {
		return l, err
	}
	if err := l.CheckExpiry(at); err != nil {
		return nil, &Error{Check: CheckRecall, Err: err}
	}
	return l, nil
}

// Ignored returns the notice for a recall list l that is not in force because newer, the
// newest list known, is; "" when l is the one in force.
func Ignored(l, newer *RecallList) string {
	if l == nil || newer == nil || newer.Sequence <= l.Sequence {
		return ""
	}
	return fmt.Sprintf("recall list %d ignored: recall list %d is newer and stays in force", l.Sequence, newer.Sequence)
}

// checkRecall applies the recall list in force (the policy's and o.Recalls, at o.At or
// now) to the bundle digest. Its error is untyped; [recallCheckError] types it.
func checkRecall(digest string, m *bundle.Manifest, p *Policy, o *Options) (*RecallInfo, error) {
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	l, err := InForce(append(append([]*RecallList(nil), p.Recalls...), o.Recalls...), at)
	if err != nil || l == nil {
		var ve *Error
		if errors.As(err, &ve) {
			err = ve.Err
		}
		return nil, err
	}
	info := &RecallInfo{Sequence: l.Sequence}
	if reason, ok := l.Entries[digest]; ok {
		info.Reason = reason
		return info, fmt.Errorf("%s (%s) is recalled by recall list %d: %s", m.ID, digest, l.Sequence, reason)
	}
	return info, nil
}

// recallCheckError types an error of [checkRecall]: a conflict between lists or an
// expired list stays what it is (exit 3 and 4), anything else is the bundle recalled.
func recallCheckError(err error) error {
	if errors.Is(err, ErrRecallConflict) || errors.Is(err, ErrExpired) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrRecalled, err)
}

func recallDetail(info *RecallInfo) string {
	if info == nil {
		return "no recall list given"
	}
	return fmt.Sprintf("not listed in recall list %d", info.Sequence)
}
