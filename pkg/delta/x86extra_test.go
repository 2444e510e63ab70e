package delta

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestTarget checks that toTarget is one to one on the int32s, stores
// targets in the file as themselves, and that fromTarget inverts it, at
// the edges of each case.
func TestTarget(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range []int64{4, 5, 100, 1 << 20, maxTargetsFile - 1, maxTargetsFile} {
		for _, q := range []int64{4, 5, n / 2, n - 1, n} {
			vs := []int64{math.MinInt32, math.MaxInt32, 0, -1, 1, -q - 1, -q, -q + 1,
				n - q - 1, n - q, n - q + 1, n - 1, n, n + 1}
			for range 200 {
				vs = append(vs, int64(int32(r.Uint32())))
			}
			for _, v := range vs {
				if v < math.MinInt32 || v > math.MaxInt32 {
					continue
				}
				w := toTarget(v, q, n)
				if w < math.MinInt32 || w > math.MaxInt32 {
					t.Fatalf("n %d q %d: %d stored as %d, past int32", n, q, v, w)
				}
				if q+v >= 0 && q+v < n && w != q+v {
					t.Fatalf("n %d q %d: target %d stored as %d", n, q, q+v, w)
				}
				if back := fromTarget(w, q, n); back != v {
					t.Fatalf("n %d q %d: %d -> %d -> %d", n, q, v, w, back)
				}
			}
		}
	}
}

// TestTargets checks rewriteFields both ways on bytes thick with field
// openers, fields at the very ends, and a call whose field becomes its
// target.
func TestTargets(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(43, 44))
	openers := [][]byte{{0xE8}, {0xE9}, {0x0F, 0x85}, {0x8B, 0x05}, {0x8D, 0x0D}, {0x0F, 0xB6, 0x05}}
	for i := range 300 {
		var src []byte
		for len(src) < 1+r.IntN(200) {
			if r.IntN(2) == 0 {
				src = append(src, openers[r.IntN(len(openers))]...)
			}
			src = binary.LittleEndian.AppendUint32(src, r.Uint32())
		}
		at := int64(r.IntN(1000))
		n := at + int64(len(src)) + int64(r.IntN(1000))
		if i%3 == 0 {
			n = maxTargetsFile
		}
		dst := bytes.Clone(src)
		rewriteFields(dst, src, at, n, toTarget)
		rewriteFields(dst, dst, at, n, fromTarget)
		if !bytes.Equal(dst, src) {
			t.Fatalf("at %d n %d: %x came back as %x", at, n, src, dst)
		}
	}
	src := []byte{0x90, 0xE8, 0x10, 0, 0, 0}
	dst := bytes.Clone(src)
	rewriteFields(dst, src, 100, 1000, toTarget)
	if got := binary.LittleEndian.Uint32(dst[2:]); got != 100+6+0x10 {
		t.Errorf("call at 101 to %d stored as %d", 100+6+0x10, got)
	}
}

// TestTargetsFlag checks that Diff writes the extra bytes of an x86-64 ELF
// file as targets, and those of other files as they are.
func TestTargetsFlag(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(45, 46))
	ins := map[int]int{}
	for range 40 {
		ins[r.IntN(20000)] = 20 + r.IntN(40)
	}
	old, nw := fakeCode(r, 20000, ins)
	patch := roundTrip(t, old, nw)
	if f := firstFlags(t, patch); f&flagTargets == 0 {
		t.Errorf("segment flags %#x: want targets", f)
	}
	// The same bytes without the ELF header keep their displacements.
	plain := roundTrip(t, old[1:], nw[1:])
	if f := firstFlags(t, plain); f&flagTargets != 0 {
		t.Errorf("segment flags %#x without ELF: want no targets", f)
	}
}
