package channel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/sign"
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
