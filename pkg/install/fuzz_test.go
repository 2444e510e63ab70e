package install

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The state files are parsers of hostile input (issue 13): FuzzState and FuzzJournal
// feed state.json and journal.json bytes to the strict decoder and the checks Open
// runs, against a real target (an installed synthetic bundle, its manifest kept), so
// mutations of real documents reach the deep checks. Properties: never panic; input
// past the size limit is refused; whatever is accepted re-encodes to a document that
// is accepted again and encodes the same (round trip).

func fuzzTarget(f *testing.F) (*Target, []byte, []byte) {
	s := newSynth(f)
	root := filepath.Join(f.TempDir(), "root")
	copyTree(f, s.base, root)
	if _, err := apply(f, root, s.a); err != nil {
		f.Fatal(err)
	}
	tg, err := Open(context.Background(), root, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tg.Close() })
	state, err := os.ReadFile(filepath.Join(root, StateDirName, stateFile))
	if err != nil {
		f.Fatal(err)
	}
	cur := &tg.st.Installed[0]
	steps, err := planSteps(cur, nil)
	if err != nil {
		f.Fatal(err)
	}
	next := nextState(tg.st, cur, nil)
	next.Tx = newTx()
	j, _ := json.Marshal(&journal{Type: journalType, Tx: next.Tx, Op: "remove", Steps: steps, State: next})
	return tg, state, j
}

func FuzzState(f *testing.F) {
	tg, state, _ := fuzzTarget(f)
	f.Add(state)
	f.Add([]byte(`{"type":"patchkit.install-state/v1","installed":[],"floors":{}}`))
	f.Add([]byte(`{"type":"patchkit.install-state/v1","installed":[],"floors":{"foo":1},"recall":{"sequence":1,"digest":"sha256:` + string(bytes.Repeat([]byte("a"), 64)) + `","entries":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newState()
		err := decodeStrict(bytes.NewReader(b), maxStateSize, st)
		if len(b) > maxStateSize && err == nil {
			t.Fatal("oversize state accepted")
		}
		if err != nil || tg.checkState(st) != nil {
			return
		}
		enc, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		again := newState()
		if err := decodeStrict(bytes.NewReader(enc), maxStateSize, again); err != nil {
			t.Fatalf("re-encoded state refused: %v\n%s", err, enc)
		}
		if err := tg.checkState(again); err != nil {
			t.Fatalf("re-encoded state fails its check: %v", err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the state:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzJournal(f *testing.F) {
	tg, _, j := fuzzTarget(f)
	f.Add(j)
	f.Add([]byte(`{"type":"patchkit.install-journal/v1","tx":"20260101T000000Z-0000000000000000","op":"apply","rollback":false,"steps":[{"path":"../x"}],"state":{"type":"patchkit.install-state/v1","installed":[],"floors":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jr := &journal{}
		err := decodeStrict(bytes.NewReader(b), maxStateSize, jr)
		if len(b) > maxStateSize && err == nil {
			t.Fatal("oversize journal accepted")
		}
		if err != nil || tg.checkJournal(jr) != nil {
			return
		}
		for _, s := range jr.Steps {
			if err := checkStepPath(s.Path); err != nil {
				t.Fatalf("accepted journal has step path %q: %v", s.Path, err)
			}
		}
		enc, err := json.Marshal(jr)
		if err != nil {
			t.Fatal(err)
		}
		again := &journal{}
		if err := decodeStrict(bytes.NewReader(enc), maxStateSize, again); err != nil {
			t.Fatalf("re-encoded journal refused: %v", err)
		}
		if err := tg.checkJournal(again); err != nil {
			t.Fatalf("re-encoded journal fails its check: %v", err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatal("round trip changed the journal")
		}
	})
}
