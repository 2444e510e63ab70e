package delta

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// limitWriter fails the test if more than max bytes are written.
type limitWriter struct {
	t   *testing.T
	max int64
	buf bytes.Buffer
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if int64(w.buf.Len()+len(p)) > w.max {
		w.t.Fatalf("Apply wrote past newSize %d", w.max)
	}
	return w.buf.Write(p)
}

func fuzzSeeds(f *testing.F) {
	r := rand.New(rand.NewPCG(21, 22))
	add := func(old, nw []byte) {
		p, err := Diff(old, nw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(old, p, uint32(len(nw)))
	}
	code := codeLike(r, 3000)
	add(code, mutate(r, code, 10))
	add(nil, []byte("hello, world"))
	add([]byte("hello, world"), nil)
	add(bytes.Repeat([]byte{0}, 500), bytes.Repeat([]byte{0}, 400))
	old, nw := fakeCode(r, 300, map[int]int{10: 2, 200: 1})
	add(old, nw)
	old, nw = fakeELF(r, 300, map[int]int{10: 2, 200: 1}, true)
	add(old, nw)
	// Several segments, zstd streams: the first sends a global map.
	old, nw = fakeELF(r, 600, map[int]int{10: 2, 200: 1, 400: 3}, true)
	p, err := encodeSegments(old, nw, plan(old, nw, false), 512, lzmaMinStream, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old, p, uint32(len(nw)))
	// LZMA streams (segments with coder bytes), zstd ones beside them.
	p, err = encodeSegments(old, nw, plan(old, nw, false), 512, 64, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old, p, uint32(len(nw)))
}

// FuzzApply checks that Apply never panics, never writes past newSize, and
// produces exactly newSize bytes when it succeeds.
func FuzzApply(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, old, patch []byte, newSize uint32) {
		n := int64(newSize % (1 << 20))
		w := &limitWriter{t: t, max: n}
		err := Apply(w, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), n)
		if err == nil && int64(w.buf.Len()) != n {
			t.Fatalf("Apply succeeded with %d bytes, want %d", w.buf.Len(), n)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

// FuzzRoundTrip checks Diff then Apply on arbitrary pairs.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("the quick brown fox"), []byte("the quick red fox jumps"))
	f.Add(make([]byte, 100), []byte{1, 2, 3})
	// x86-64 code with new instructions: x86 prediction, and the extra
	// bytes' fields as targets.
	old, nw := fakeCode(rand.New(rand.NewPCG(23, 24)), 200, map[int]int{50: 9, 150: 4})
	f.Add(old, nw)
	f.Fuzz(func(t *testing.T, old, nw []byte) {
		roundTrip(t, old, nw)
	})
}
