package verify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// signedRecall returns a recall list file naming digest, signed by keys.
func signedRecall(t *testing.T, seq int64, notAfter, digest string, keys ...*sign.Key) []byte {
	t.Helper()
	doc, err := verify.MarshalRecallDocument(&verify.RecallDocument{Sequence: seq, Issued: "2026-05-01T00:00:00Z", NotAfter: notAfter,
		Entries: []verify.RecallEntry{{Digest: digest, Reason: "breaks things"}}})
	if err != nil {
		t.Fatal(err)
	}
	var sigs [][]byte
	for _, k := range keys {
		sig, err := k.Sign(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	out, err := verify.MarshalSignedRecall(doc, sigs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A recall list needs the trust that admits the bundles it names: with a 2-of-2
// policy, one key cannot publish a list (least of all one with a huge sequence),
// unless the policy says so explicitly with recall_threshold.
func TestRecallNeedsInstallThreshold(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	k2, pub2 := newKey(t, "k2")
	digest := "sha256:" + strings.Repeat("ab", 32)
	p := &verify.Policy{Keys: []verify.TrustedKey{pub1, pub2}, Threshold: 2}
	one := signedRecall(t, 1<<53-1, "2099-01-01T00:00:00Z", digest, k1)
	_, err := verify.ParseRecallList(one, p)
	if outcome(err) != "failed recall_list" || !strings.Contains(err.Error(), "1 distinct trusted signer(s), 2 needed") {
		t.Fatalf("one key of 2-of-2 published a recall list: %v", err)
	}
	if _, err := verify.ParseRecallList(signedRecall(t, 2, "2099-01-01T00:00:00Z", digest, k1, k2), p); err != nil {
		t.Fatalf("2-of-2 list: %v", err)
	}
	explicit := *p
	explicit.RecallThreshold = 1
	if _, err := verify.ParseRecallList(one, &explicit); err != nil {
		t.Fatalf("recall_threshold 1: %v", err)
	}
	// A recall threshold no key set can meet fails like an unmeetable threshold.
	bad := *p
	bad.RecallThreshold = 3
	if err := bad.Validate(); outcome(err) != "failed signatures" || !strings.Contains(err.Error(), "recall_threshold 3 cannot be met") {
		t.Fatalf("unmeetable recall_threshold: %v", err)
	}
}

// An unmeetable threshold is a failed verification (exit 3) however it is given.
func TestUnmeetableThreshold(t *testing.T) {
	t.Parallel()
	_, pub1 := newKey(t, "k1")
	err := (&verify.Policy{Keys: []verify.TrustedKey{pub1}, Threshold: 2}).Validate()
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != verify.CheckSignatures || err.Error() != "verification failed: signatures: threshold 2 cannot be met: it is more than the 1 trusted key(s)" {
		t.Fatalf("got %v", err)
	}
}

// Recall lists expire: the list in force is refused once its not_after has passed
// (exit 4, like an expired bundle), and a list without not_after is not accepted.
func TestRecallExpiry(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	p := &verify.Policy{Keys: []verify.TrustedKey{pub1}}
	f := newFixture(t, "x\n", nil)
	data := signWith(t, f.data, k1)
	other := "sha256:" + strings.Repeat("cd", 32)
	l, err := verify.ParseRecallList(signedRecall(t, 3, "2026-06-01T00:00:00Z", other, k1), p)
	if err != nil {
		t.Fatal(err)
	}
	o := &verify.Options{Recalls: []*verify.RecallList{l}, At: time.Date(2026, 5, 15, 0, 0, 0, 0, time.UTC)}
	if _, err := verifyData(data, p, o); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	o.At = time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	_, err = verifyData(data, p, o)
	if outcome(err) != "expired" || errors.Is(err, verify.ErrRecalled) ||
		!strings.Contains(err.Error(), "recall: expired: recall list 3 expired at 2026-06-01T00:00:00Z") {
		t.Fatalf("expired list: %v", err)
	}
	if _, err := verify.MarshalRecallDocument(&verify.RecallDocument{Sequence: 1, Issued: "2026-05-01T00:00:00Z"}); err == nil ||
		!strings.Contains(err.Error(), "every list needs an expiry") {
		t.Fatalf("list without not_after: %v", err)
	}
	if _, err := verify.MarshalRecallDocument(&verify.RecallDocument{Sequence: 1, Issued: "2026-05-01T00:00:00Z", NotAfter: "2026-04-01T00:00:00Z"}); err == nil {
		t.Fatal("not_after before issued accepted")
	}
	if got := verify.Ignored(&verify.RecallList{Sequence: 2}, l); got != "recall list 2 ignored: recall list 3 is newer and stays in force" {
		t.Fatalf("Ignored: %q", got)
	}
}

// A recorded list keeps its expiry: Record and List round-trip, and InForce refuses the
// rebuilt list once expired.
func TestRecallRecord(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	l, err := verify.ParseRecallList(signedRecall(t, 7, "2026-06-01T00:00:00Z", "sha256:"+strings.Repeat("ef", 32), k1),
		&verify.Policy{Keys: []verify.TrustedKey{pub1}})
	if err != nil {
		t.Fatal(err)
	}
	rec := l.Record()
	if rec.NotAfter != "2026-06-01T00:00:00Z" || rec.Issued != "2026-05-01T00:00:00Z" || rec.Sequence != 7 {
		t.Fatalf("record %+v", rec)
	}
	back, err := rec.List()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.InForce([]*verify.RecallList{back}, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)); !errors.Is(err, verify.ErrExpired) {
		t.Fatalf("rebuilt list past its expiry: %v", err)
	}
	if _, err := (verify.RecallRecord{Sequence: 1, NotAfter: "soon"}).List(); err == nil {
		t.Fatal("bad not_after accepted")
	}
}
