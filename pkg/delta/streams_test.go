package delta

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	old := codeLike(r, 256<<10)
	nw := append(mutate(r, old, 40), randBytes(r, 20<<10)...)
	patch, err := Diff(old, nw)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	got, err := Streams(bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(nw)), func(name string, raw []byte) {
		seen[name] += int64(len(raw))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(streamNames) {
		t.Fatalf("%d kinds, want %d", len(got), len(streamNames))
	}
	var stored int64
	for i, s := range got {
		if s.Name != streamNames[i] || s.Raw != seen[s.Name] || s.Stored > s.Raw {
			t.Errorf("stream %d: %+v, seen %d raw bytes", i, s, seen[s.Name])
		}
		stored += s.Stored
	}
	if got[5].Raw < 20<<10 || stored >= int64(len(patch)) {
		t.Errorf("extra %d raw bytes, %d stored of a %d-byte patch", got[5].Raw, stored, len(patch))
	}
	// Streams checks what Apply checks.
	if _, err := Streams(bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch[:len(patch)-1]), int64(len(nw)), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated patch: %v, want ErrCorrupt", err)
	}
}
