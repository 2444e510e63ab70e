package channel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

func update(t *testing.T, f *fixture, root string, check bool) (*Report, error) {
	t.Helper()
	tg, err := install.Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	return Update(context.Background(), f.open(t, nil), tg, &UpdateOptions{Policy: f.policy, Check: check, Root: root})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := filepath.Join(t.TempDir(), "root")
	writeTree(t, root, baseFiles)
	rep, err := update(t, f, root, true)
	if err != nil || len(rep.Actions) != 1 || rep.Actions[0].Op != "install" || rep.Actions[0].Result != nil {
		t.Fatalf("check: %v %+v", err, rep)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/lib/libfoo.so.1")); string(b) != baseFiles["usr/lib/libfoo.so.1"] {
		t.Fatal("check changed the tree")
	}
	if rep, err = update(t, f, root, false); err != nil || len(rep.Actions) != 1 || rep.Actions[0].Result.Op != "apply" {
		t.Fatalf("update: %v %+v", err, rep)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/lib/libfoo.so.1")); string(b) != targetFiles["usr/lib/libfoo.so.1"] {
		t.Fatal("update did not install")
	}
	if rep, err = update(t, f, root, false); err != nil || len(rep.Actions) != 0 {
		t.Fatalf("second update: %v %+v", err, rep)
	}
	// The machine's memory of the channel is strict: a damaged file is not a reset.
	seen := filepath.Join(root, install.StateDirName, seenFile)
	if err := os.WriteFile(seen, []byte(`{"type":"patchkit.channels-seen/v1","channels":{},"x":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := update(t, f, root, true); err == nil || !strings.Contains(err.Error(), "refusing to forget") {
		t.Fatalf("damaged memory: %v", err)
	}
}

func TestPublishRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	newPub := func() *Publisher {
		p := &Publisher{Repo: f.open(t, nil), Signers: []sign.Signer{f.key}, Trust: f.policy}
		if _, err := p.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := newPub(), newPub()
	if _, err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx); err == nil || !strings.Contains(err.Error(), "changed while publishing") {
		t.Fatalf("second publisher: %v", err)
	}
	// A bundle for the same base with a sequence not above the current one is refused.
	c := newPub()
	if _, err := c.AddBundle(ctx, f.pkb); err != nil { // the same bundle: no change
		t.Fatal(err)
	}
	var ce *Error
	if _, err := Open(ctx, Ref{Repo: "127.0.0.1:1/x", Tag: "stable"}, &Options{PlainHTTP: true}); err != nil {
		t.Fatal(err)
	}
	r, _ := Open(ctx, Ref{Repo: "127.0.0.1:1/x", Tag: "stable"}, &Options{PlainHTTP: true})
	if _, err := FetchIndex(ctx, r, f.policy); !errors.As(err, &ce) || ce.Kind != KindUnavailable {
		t.Fatalf("closed port: %v", err)
	}
}

// A machine refuses the channel's recall list once it has expired (exit 4), rather than
// dropping it (which would un-recall what it names); a publisher refuses to carry it.
func TestRecallListExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	fb, err := os.Open(f.pkb)
	if err != nil {
		t.Fatal(err)
	}
	br, err := bundle.NewReader(fb)
	fb.Close()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := verify.MarshalRecallDocument(&verify.RecallDocument{Sequence: 1, Issued: now.Format(time.RFC3339),
		NotAfter: now.Add(time.Hour).Format(time.RFC3339), Entries: []verify.RecallEntry{{Digest: br.Digest(), Reason: "breaks"}}})
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := sign.Signatures(ctx, doc, nil, []sign.Signer{f.key})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := verify.MarshalSignedRecall(doc, sigs)
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "recall.json")
	if err := os.WriteFile(list, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	pub := &Publisher{Repo: f.open(t, nil), Signers: []sign.Signer{f.key}, Trust: f.policy}
	if _, err := pub.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.AddRecall(ctx, list); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	writeTree(t, root, baseFiles)
	tg, err := install.Open(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	_, err = Update(ctx, f.open(t, nil), tg, &UpdateOptions{Policy: f.policy, Check: true, Root: root, At: now.Add(2 * time.Hour)})
	if !errors.Is(err, verify.ErrExpired) {
		t.Fatalf("expired recall list: %v", err)
	}
	later := &Publisher{Repo: f.open(t, nil), Signers: []sign.Signer{f.key}, Trust: f.policy, Now: func() time.Time { return now.Add(2 * time.Hour) }}
	if _, err := later.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := later.Commit(ctx); err == nil || !strings.Contains(err.Error(), "publish a new one with --recall") {
		t.Fatalf("refresh over an expired recall list: %v", err)
	}
}
