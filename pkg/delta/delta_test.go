package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

func apply(t testing.TB, old, patch []byte, newSize int) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(newSize))
	return out.Bytes(), err
}

func roundTrip(t testing.TB, old, nw []byte) []byte {
	t.Helper()
	patch, err := Diff(old, nw)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	got, err := apply(t, old, patch, len(nw))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !bytes.Equal(got, nw) {
		t.Fatalf("round trip mismatch: got %d bytes, want %d", len(got), len(nw))
	}
	return patch
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// codeLike returns bytes with the statistics of machine code: a small
// alphabet with repeats, so matches are ambiguous.
func codeLike(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if i > 16 && r.IntN(4) == 0 {
			b[i] = b[i-1-r.IntN(16)]
		} else {
			b[i] = byte(r.IntN(24))
		}
	}
	return b
}

// mutate applies random edits: replacements, insertions, deletions, moved
// blocks and small arithmetic shifts (like relocated displacements).
func mutate(r *rand.Rand, old []byte, edits int) []byte {
	nw := append([]byte(nil), old...)
	for range edits {
		if len(nw) == 0 {
			nw = append(nw, randBytes(r, 1+r.IntN(64))...)
			continue
		}
		p := r.IntN(len(nw))
		switch r.IntN(5) {
		case 0: // replace
			n := min(1+r.IntN(32), len(nw)-p)
			copy(nw[p:], randBytes(r, n))
		case 1: // insert
			ins := randBytes(r, 1+r.IntN(200))
			nw = append(nw[:p], append(ins, nw[p:]...)...)
		case 2: // delete
			n := min(1+r.IntN(500), len(nw)-p)
			nw = append(nw[:p], nw[p+n:]...)
		case 3: // move a block
			n := min(1+r.IntN(4000), len(nw)-p)
			blk := append([]byte(nil), nw[p:p+n]...)
			nw = append(nw[:p], nw[p+n:]...)
			q := r.IntN(len(nw) + 1)
			nw = append(nw[:q], append(blk, nw[q:]...)...)
		case 4: // shift every 4th byte of a region by a constant
			n := min(1+r.IntN(2000), len(nw)-p)
			d := byte(1 + r.IntN(255))
			for i := p; i < p+n; i += 4 + r.IntN(12) {
				nw[i] += d
			}
		}
	}
	return nw
}

// inPlace returns a copy of b changed by f.
func inPlace(b []byte, f func([]byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

func TestSuffixArray(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	texts := [][]byte{
		nil, {0}, {1, 1}, {2, 1}, {1, 2}, []byte("banana"), []byte("mississippi"),
		bytes.Repeat([]byte{0}, 1000), bytes.Repeat([]byte("ab"), 500), bytes.Repeat([]byte("abc"), 333),
	}
	for range 300 {
		n := r.IntN(300)
		k := 1 + r.IntN(4)
		if r.IntN(3) == 0 {
			k = 256
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(k))
		}
		texts = append(texts, b)
	}
	texts = append(texts, codeLike(r, 100000))
	for _, text := range texts {
		got := suffixArray(text)
		want := make([]int32, len(text))
		for i := range want {
			want[i] = int32(i)
		}
		sort.Slice(want, func(i, j int) bool { return bytes.Compare(text[want[i]:], text[want[j]:]) < 0 })
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("text %q: sa[%d] = %d, want %d", text[:min(len(text), 40)], i, got[i], want[i])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	rnd := randBytes(r, 200000)
	code := codeLike(r, 300000)
	zeros := make([]byte, 100000)
	cases := []struct {
		name     string
		old, new []byte
	}{
		{"both empty", nil, nil},
		{"empty old", nil, rnd[:5000]},
		{"empty new", rnd[:5000], nil},
		{"tiny old", rnd[:3], rnd[:5000]},
		{"identical", rnd, rnd},
		{"random unrelated", rnd[:50000], randBytes(r, 60000)},
		{"all zero", zeros, zeros[:90000]},
		{"zero to random", zeros, rnd[:100000]},
		{"random to zero", rnd[:100000], zeros},
		{"random edits", rnd, mutate(r, rnd, 50)},
		{"code edits", code, mutate(r, code, 200)},
		{"insert at start", rnd, append([]byte("hello"), rnd...)},
		{"delete at start", rnd, rnd[1000:]},
		{"truncate", rnd, rnd[:len(rnd)-1000]},
		{"swap halves", rnd, append(append([]byte(nil), rnd[100000:]...), rnd[:100000]...)},
		{"repeat", rnd[:1000], bytes.Repeat(rnd[:1000], 50)},
		{"one byte", []byte{1}, []byte{2}},
		{"in place", rnd, inPlace(rnd, func(b []byte) {
			for i := 0; i < len(b); i += 10007 {
				b[i]++
			}
		})},
		{"in place, block swapped", rnd, inPlace(rnd, func(b []byte) {
			a := append([]byte(nil), b[1000:2000]...)
			copy(b[1000:], b[5000:6000])
			copy(b[5000:], a)
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			patch := roundTrip(t, c.old, c.new)
			t.Logf("%d -> %d bytes: patch %d bytes", len(c.old), len(c.new), len(patch))
		})
	}
}

func TestRoundTripProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	n := 200
	if testing.Short() {
		n = 40
	}
	for i := range n {
		var old []byte
		switch i % 3 {
		case 0:
			old = randBytes(r, r.IntN(5000))
		case 1:
			old = codeLike(r, r.IntN(20000))
		case 2:
			old = bytes.Repeat([]byte{byte(i)}, r.IntN(3000))
		}
		nw := mutate(r, old, r.IntN(20))
		roundTrip(t, old, nw)
	}
}

// TestBlocks exercises the block matcher (Diff's choice for old files over
// saMaxOld) and the two-half scan.
func TestBlocks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	old := randBytes(r, 3<<20)
	rebuilt := inPlace(old, func(b []byte) { // matched in place
		for i := 0; i < len(b); i += 100003 {
			b[i]++
		}
	})
	if !nearlyInPlace(old, rebuilt) {
		t.Fatal("rebuilt file not seen as nearly in place")
	}
	for i, nw := range [][]byte{mutate(r, old, 10), mutate(r, codeLike(r, 1<<20), 50), rebuilt} {
		patch, err := encode(old, nw, plan(old, nw, true))
		if err != nil {
			t.Fatal(err)
		}
		got, err := apply(t, old, patch, len(nw))
		if err != nil || !bytes.Equal(got, nw) {
			t.Fatalf("case %d: round trip failed: %v", i, err)
		}
		t.Logf("case %d: %d bytes -> patch %d bytes", i, len(nw), len(patch))
	}
}

// TestPlanLarge runs the large-file plan (even suffix array, sparse scan,
// windows of new, x86-64 normalization) on small files with small windows:
// every patch round-trips and is the same on one core.
func TestPlanLarge(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	old := codeLike(r, 1<<20+1) // odd: the padded last pair
	cases := [][2][]byte{{old, mutate(r, old, 40)}}
	if !testing.Short() {
		c := corpusCases[2] // libcrypto: x86-64, normalized
		o, n := corpusPair(t, c.pkg, c.old, c.new, c.rel)
		cases = append(cases, [2][]byte{o, n})
	}
	for i, c := range cases {
		old, nw := c[0], c[1]
		ops := planLarge(old, nw, 256<<10)
		patch, err := encode(old, nw, ops)
		if err != nil {
			t.Fatal(err)
		}
		got, err := apply(t, old, patch, len(nw))
		if err != nil || !bytes.Equal(got, nw) {
			t.Fatalf("case %d: round trip failed: %v", i, err)
		}
		prev := runtime.GOMAXPROCS(1)
		ops1 := planLarge(old, nw, 256<<10)
		runtime.GOMAXPROCS(prev)
		if !slices.Equal(ops, ops1) {
			t.Fatalf("case %d: other ops on one core", i)
		}
		t.Logf("case %d: %d bytes -> patch %d bytes", i, len(nw), len(patch))
	}
}

// TestSegments checks a patch of several segments: mostly literal bytes.
func TestSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(17, 18))
	old := randBytes(r, 1<<20)
	nw := append(make([]byte, 2*segmentTarget), old...)
	patch := roundTrip(t, old, nw)
	t.Logf("literal: %d bytes -> patch %d bytes", len(nw), len(patch))
}

// TestReadAhead checks Apply on a patch of many segments, each read and
// decoded while the ops of the one before run: the first error in patch
// order is the one reported, and Apply leaves no goroutine reading the
// patch behind, whether it succeeds or fails. Not parallel: other tests'
// Apply calls would be seen reading.
func TestReadAhead(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	old := codeLike(r, 1<<20)
	nw := mutate(r, old, 300)
	patch, err := encodeSegments(old, nw, plan(old, nw, false), 4<<10, lzmaMinStream, lzmaSmall)
	if err != nil {
		t.Fatal(err)
	}
	segs := 0
	if _, err := Streams(bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(nw)), func(name string, _ []byte) {
		if name == "control" {
			segs++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if segs < 8 {
		t.Fatalf("%d segments, want at least 8", segs)
	}
	t.Logf("%d bytes in %d segments", len(patch), segs)
	errWrite := errors.New("disk full")
	for _, c := range []struct {
		name   string
		patch  []byte
		w      io.Writer
		want   error // nil: the new file
		wantIs bool  // want is wrapped, not the exact bytes
	}{
		{"whole", patch, new(bytes.Buffer), nil, false},
		{"truncated at 90 %", patch[:len(patch)*9/10], new(bytes.Buffer), ErrCorrupt, true},
		// The writer fails at its first write, a quarter of the way.
		{"writer fails before the truncation", patch[:len(patch)*9/10], failWriter{errWrite}, errWrite, true},
		{"a segment after the last", append(slices.Clip(patch), patch[len(patch)/2:]...), new(bytes.Buffer), ErrCorrupt, true},
	} {
		err := Apply(c.w, bytes.NewReader(old), int64(len(old)), bytes.NewReader(c.patch), int64(len(nw)))
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == nil && !bytes.Equal(c.w.(*bytes.Buffer).Bytes(), nw):
			t.Errorf("%s: wrong output", c.name)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
		if g := readingGoroutines(); g != "" {
			t.Errorf("%s: goroutines still reading after Apply returned:\n%s", c.name, g)
		}
	}
}

// readingGoroutines returns the stacks of the goroutines that are in a
// segReader's methods.
func readingGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, ".(*segReader).") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// failWriter fails every write.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestDeterministic(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	old := codeLike(r, 3<<19)
	nw := mutate(r, old, 300)
	p1, err := Diff(old, nw)
	if err != nil {
		t.Fatal(err)
	}
	// Same bytes on one core (the two-half scan and the compression run
	// concurrently only when there are cores for them).
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	for range 1 {
		p2, err := Diff(old, nw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p1, p2) {
			t.Fatal("Diff is not deterministic")
		}
	}
}

func TestApplyRejects(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	old := codeLike(r, 50000)
	nw := mutate(r, old, 30)
	patch, err := Diff(old, nw)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, old, patch []byte, newSize int) {
		t.Helper()
		_, err := apply(t, old, patch, newSize)
		if err == nil {
			t.Errorf("%s: Apply succeeded", name)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", name, err)
		}
	}
	for n := range len(patch) {
		check("truncated", old, patch[:n], len(nw))
	}
	check("trailing garbage", old, append(append([]byte(nil), patch...), 0), len(nw))
	check("new size too big", old, patch, len(nw)+1)
	check("new size too small", old, patch, len(nw)-1)
	check("wrong old size", old[:len(old)-1], patch, len(nw))
	check("bad magic", old, append([]byte("XKD"), patch[3:]...), len(nw))

	// Hand-made patches: header then one raw segment.
	seg := func(oldSize, newSize int, ctrl, runs, diff, extra []byte) []byte {
		p := append([]byte(magic), version)
		p = appendUvarint(p, uint64(oldSize), uint64(newSize), 0)
		for _, s := range [][]byte{ctrl, runs, diff, extra} {
			p = appendUvarint(p, uint64(len(s))<<1)
			p = append(p, s...)
		}
		return p
	}
	small := []byte("0123456789")
	ok := seg(10, 10, []byte{10, 0, 0}, []byte{10, 0}, nil, nil)
	if got, err := apply(t, small, ok, 10); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("hand-made patch: %v", err)
	}
	check("copy past old", small, seg(10, 11, []byte{11, 0, 0}, []byte{11, 0}, nil, nil), 11)
	check("seek before old", small, seg(10, 10, []byte{5, 0, 0x13, 5, 0, 0}, []byte{5, 0, 5, 0}, nil, nil), 10)
	check("seek past old", small, seg(10, 10, []byte{5, 0, 0x0c, 5, 0, 0}, []byte{5, 0, 5, 0}, nil, nil), 10)
	check("extra past stream", small, seg(10, 10, []byte{0, 10, 0}, nil, nil, []byte("abc")), 10)
	check("op past new size", small, seg(10, 5, []byte{10, 0, 0}, []byte{10, 0}, nil, nil), 5)
	check("run past op", small, seg(10, 10, []byte{5, 0, 0, 5, 0, 0}, []byte{10, 0}, nil, nil), 10)
	check("empty run", small, seg(10, 10, []byte{10, 0, 0}, []byte{0, 0, 10, 0}, nil, nil), 10)
	check("diff stream short", small, seg(10, 10, []byte{10, 0, 0}, []byte{0, 10}, []byte{1}, nil), 10)
	check("unused stream bytes", small, seg(10, 10, []byte{10, 0, 0}, []byte{10, 0}, []byte{1}, nil), 10)
	check("size overflow", small, seg(10, 10, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}, nil, nil, nil), 10)
	check("huge stream", small, append(append([]byte(magic), version, 10, 10, 0), 0xff, 0xff, 0xff, 0xff, 0x0f), 10)
	check("empty segment", small, append(seg(10, 10, nil, nil, nil, nil), 0, 0, 0, 0, 0), 10)
	// x86 segments: overrides need the x86 flag and valid entries.
	ovr := func(flags byte, entries []byte) []byte {
		p := append([]byte(magic), version, 10, 10, flags)
		if flags&flagOverrides != 0 {
			p = append(p, byte(len(entries)<<1))
			p = append(p, entries...)
		}
		for _, st := range [][]byte{{10, 0, 0}, {10, 0}, nil, nil} {
			p = append(p, byte(len(st)<<1))
			p = append(p, st...)
		}
		return p
	}
	if got, err := apply(t, small, ovr(flagX86|flagOverrides, []byte{0, 4, 2}), 10); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("hand-made x86 patch with overrides: %v", err)
	}
	check("overrides without x86", small, ovr(flagOverrides, []byte{0, 4, 2}), 10)
	check("empty override", small, ovr(flagX86|flagOverrides, []byte{0, 0, 2}), 10)
	check("no override entries", small, ovr(flagX86|flagOverrides, nil), 10)
	check("override past limit", small, ovr(flagX86|flagOverrides, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0}), 10)
	// Targets in the extra stream (flagTargets): the call's field holds
	// its target, 2, and reads back as the displacement 2-6 = -4 (the
	// field ends at 6).
	call := []byte{0x90, 0xE8, 2, 0, 0, 0, 0x90}
	tg := append([]byte(magic), version, 7, 7, flagTargets, 6, 0, 7, 0, 0, 0, 14)
	tg = append(tg, call...)
	if got, err := apply(t, call, tg, 7); err != nil || !bytes.Equal(got, []byte{0x90, 0xE8, 0xFC, 0xFF, 0xFF, 0xFF, 0x90}) {
		t.Fatalf("hand-made patch with targets: %x, %v", got, err)
	}
	check("targets past 2 GiB", small, append(append([]byte(magic), version, 10, 0x81, 0x80, 0x80, 0x80, 0x08, flagTargets), 0, 0, 0, 0), 1<<31+1)
	check("unknown flags", small, append(append([]byte(magic), version, 10, 10, 0x80), 0, 0, 0, 0), 10)
	// A global map stream (flagGlobal) follows the overrides, if any.
	gm := func(flags byte, entries []byte) []byte {
		p := ovr(flags&^flagGlobal, []byte{0, 4, 2})
		at := len(magic) + 4
		if flags&flagOverrides != 0 {
			at += 4
		}
		p[len(magic)+3] = flags
		g := append([]byte{byte(len(entries) << 1)}, entries...)
		return append(p[:at:at], append(g, p[at:]...)...)
	}
	for _, f := range []byte{flagX86 | flagGlobal, flagX86 | flagOverrides | flagGlobal, flagGlobal} {
		if got, err := apply(t, small, gm(f, []byte{0, 4, 2, 2, 2, 0x7f}), 10); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("hand-made patch with flags %#x and a global map: %v", f, err)
		}
	}
	check("empty global entry", small, gm(flagX86|flagGlobal, []byte{0, 0, 2}), 10)
	check("no global entries", small, gm(flagX86|flagGlobal, nil), 10)
	check("global entry cut", small, gm(flagX86|flagGlobal, []byte{0, 4}), 10)
	check("global past limit", small, gm(flagX86|flagGlobal, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0}), 10)
}

func appendUvarint(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		b = append(b, byte(v))
	}
	return b
}

// fakeCode builds an x86-64 ELF-like file of n instructions: calls, jumps
// and RIP-relative leas to other instructions, and filler. Instructions in
// ins are inserted before the given indices, and every displacement is laid
// out again, as a compiler and linker would.
func fakeCode(r *rand.Rand, n int, ins map[int]int) (old, nw []byte) {
	return fakeELF(r, n, ins, false)
}

// fakeELF is fakeCode, and with withELF also program headers, a data
// segment of 8-byte pointers to instructions and an .eh_frame_hdr-like
// table of 4-byte offsets to instructions.
func fakeELF(r *rand.Rand, n int, ins map[int]int, withELF bool) (old, nw []byte) {
	type insn struct {
		op     []byte
		target int // instruction index, -1 for filler
		fill   []byte
	}
	prog := make([]insn, n)
	// The first n/16 instructions are a .plt-like table of look-alike
	// 16-byte stubs that calls target; the new version inserts stubs.
	stubs := n / 16
	for i := range stubs {
		prog[i] = insn{target: -1, fill: []byte{0xff, 0x25, 0, 0, 0, 0, 0x68, byte(i), byte(i >> 8), 0, 0, 0xe9, 0, 0, 0, 0}}
	}
	for i := stubs; i < n; i++ {
		if r.IntN(3) == 0 {
			prog[i] = insn{op: []byte{0xE8}, target: r.IntN(stubs)}
			continue
		}
		switch r.IntN(4) {
		case 0:
			prog[i] = insn{op: []byte{0xE8}, target: r.IntN(n)}
		case 1:
			prog[i] = insn{op: []byte{0x48, 0x8D, 0x05}, target: r.IntN(n)}
		case 2:
			prog[i] = insn{op: []byte{0x0F, 0x84}, target: r.IntN(n)}
		default:
			prog[i] = insn{target: -1, fill: codeLike(r, 1+r.IntN(12))}
		}
	}
	ptrs := make([]int, n/4) // instruction indices that data points to
	for i := range ptrs {
		ptrs[i] = r.IntN(n)
	}
	layout := func(prog []insn, ptrs []int) []byte {
		hdrLen := 64
		if withELF {
			hdrLen += 4 * 56
		}
		hdr := make([]byte, hdrLen)
		copy(hdr, "\x7fELF\x02\x01\x01")
		hdr[18] = 0x3E
		pos := make([]int, len(prog))
		p := len(hdr)
		for i, in := range prog {
			pos[i] = p
			if in.target < 0 {
				p += len(in.fill)
			} else {
				p += len(in.op) + 4
			}
		}
		b := hdr
		for i, in := range prog {
			if in.target < 0 {
				b = append(b, in.fill...)
				continue
			}
			b = append(b, in.op...)
			end := pos[i] + len(in.op) + 4
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(pos[in.target]-end)))
		}
		if !withELF {
			return b
		}
		codeEnd := len(b)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		dataStart := len(b)
		for _, t := range ptrs {
			b = binary.LittleEndian.AppendUint64(b, uint64(pos[t]))
		}
		ehStart := len(b)
		b = append(b, 1, 0x1b, 0x03, 0x3b, 0, 0, 0, 0, 0, 0, 0, 0)
		for _, t := range ptrs {
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(pos[t]-ehStart)))
		}
		binary.LittleEndian.PutUint64(b[32:], 64) // e_phoff
		binary.LittleEndian.PutUint16(b[54:], 56) // e_phentsize
		binary.LittleEndian.PutUint16(b[56:], 4)  // e_phnum
		ph := func(i int, typ, flags uint32, off, size int) {
			h := b[64+56*i:]
			binary.LittleEndian.PutUint32(h, typ)
			binary.LittleEndian.PutUint32(h[4:], flags)
			for _, f := range []int{8, 16, 24} { // offset, vaddr, paddr
				binary.LittleEndian.PutUint64(h[f:], uint64(off))
			}
			binary.LittleEndian.PutUint64(h[32:], uint64(size))
			binary.LittleEndian.PutUint64(h[40:], uint64(size))
		}
		ph(0, 1, 4, 0, hdrLen)
		ph(1, 1, 5, hdrLen, codeEnd-hdrLen)
		ph(2, 1, 6, dataStart, len(b)-dataStart)
		ph(3, 0x6474e550, 4, ehStart, len(b)-ehStart)
		return b
	}
	old = layout(prog, ptrs)
	var prog2 []insn
	remap := make([]int, n)
	for i, in := range prog {
		for range ins[i] {
			if i < stubs {
				prog2 = append(prog2, insn{target: -1, fill: []byte{0xff, 0x25, 1, 2, 3, 4, 0x68, 9, 9, 0, 0, 0xe9, 5, 6, 7, 8}})
				continue
			}
			prog2 = append(prog2, insn{target: -1, fill: codeLike(r, 1+r.IntN(12))})
		}
		remap[i] = len(prog2)
		prog2 = append(prog2, in)
	}
	for i := range prog2 {
		if prog2[i].target >= 0 {
			prog2[i].target = remap[prog2[i].target]
		}
	}
	// Stubs carry their index, as .plt stubs do: renumber them.
	for i := range prog2 {
		if f := prog2[i].fill; len(f) == 16 && f[0] == 0xff && f[1] == 0x25 {
			f = append([]byte(nil), f...)
			f[7], f[8] = byte(i), byte(i>>8)
			prog2[i].fill = f
		}
	}
	ptrs2 := make([]int, len(ptrs))
	for i, t := range ptrs {
		ptrs2[i] = remap[t]
	}
	return old, layout(prog2, ptrs2)
}

func TestX86ELF(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(15, 16))
	ins := map[int]int{100: 1, 1000: 2, 2000: 1}
	for range 20 {
		ins[r.IntN(60000)] = 1 + r.IntN(5)
	}
	old, nw := fakeELF(r, 60000, ins, true)
	e := readELF(bytes.NewReader(old), int64(len(old)))
	if e == nil || len(e.segs) != 3 || e.ehOff < 0 {
		t.Fatalf("fake ELF not recognised: %+v", e)
	}
	kinds := map[int]bool{}
	for _, g := range e.regions {
		kinds[g.kind] = true
	}
	if !kinds[kindCode] || !kinds[kindData] || !kinds[kindEhHdr] {
		t.Fatalf("regions %+v lack a kind", e.regions)
	}
	patch := roundTrip(t, old, nw)
	if f := firstFlags(t, patch); f&flagOverrides == 0 || f&flagX86 == 0 {
		t.Errorf("segment flags %#x: want x86 with overrides", f)
	}
	// Without program headers, data and table get no prediction.
	noELF := append([]byte(nil), old...)
	binary.LittleEndian.PutUint16(noELF[56:], 0)
	noELF2 := append([]byte(nil), nw...)
	binary.LittleEndian.PutUint16(noELF2[56:], 0)
	plain := roundTrip(t, noELF, noELF2)
	t.Logf("%d -> %d bytes: patch %d bytes with ELF layout, %d without", len(old), len(nw), len(patch), len(plain))
	if len(patch) >= len(plain)*3/4 {
		t.Errorf("ELF layout did not pay: %d vs %d bytes", len(patch), len(plain))
	}
	for range 3 {
		roundTrip(t, old, mutate(r, nw, 1+r.IntN(30)))
	}
}

// TestFileOff checks fileOff, whatever segment it is told to try first,
// against the first segment that holds the address, with and without
// overlapping segments.
func TestFileOff(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	first := func(segs []loadSeg, va int64) int64 {
		for _, g := range segs {
			if va >= g.vaddr && va-g.vaddr < g.span() {
				return g.off + min(va-g.vaddr, max(g.filesz-1, 0))
			}
		}
		return va
	}
	for i := range 200 {
		var segs []loadSeg
		for range 1 + r.IntN(5) {
			segs = append(segs, loadSeg{
				off:    r.Int64N(1 << 16),
				vaddr:  r.Int64N(1 << 16),
				filesz: r.Int64N(1 << 12),
				memsz:  r.Int64N(1 << 13),
			})
		}
		e := &elfInfo{segs: segs, disjoint: disjointSegs(segs)}
		hint := r.IntN(len(segs) + 1)
		for range 100 {
			va := r.Int64N(1<<16 + 1<<13)
			if got, want := e.fileOff(va, &hint), first(segs, va); got != want {
				t.Fatalf("case %d (disjoint %v): fileOff(%d) = %d, want %d", i, e.disjoint, va, got, want)
			}
		}
	}
}

func TestX86(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	ins := map[int]int{}
	for range 30 {
		ins[r.IntN(50000)] = 1 + r.IntN(5)
	}
	old, nw := fakeCode(r, 50000, ins)
	if !isX86_64ELF(old) {
		t.Fatal("fake code is not x86-64 ELF")
	}
	patch := roundTrip(t, old, nw)
	// The same bytes without the ELF header get no prediction.
	plain := roundTrip(t, old[1:], nw[1:])
	t.Logf("%d -> %d bytes: patch %d bytes with x86 prediction, %d without", len(old), len(nw), len(patch), len(plain))
	if len(patch) >= len(plain)/2 {
		t.Errorf("x86 prediction did not pay: %d vs %d bytes", len(patch), len(plain))
	}
	// Random edits on top, still exact.
	for range 3 {
		roundTrip(t, old, mutate(r, nw, 1+r.IntN(30)))
	}
}

// firstFlags returns the flags of the first segment of a patch.
func firstFlags(t *testing.T, patch []byte) byte {
	t.Helper()
	b := patch[len(magic)+1:]
	for range 2 {
		_, n := binary.Uvarint(b)
		b = b[n:]
	}
	return b[0]
}

// TestGlobalMap checks the whole-file x86 map (flagGlobal): with segments
// small enough that most targets lie outside a segment's own ops, the first
// segment sends the map, and it pays.
func TestGlobalMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(23, 24))
	ins := map[int]int{}
	for range 40 {
		ins[r.IntN(20000)] = 1 + r.IntN(5)
	}
	old, nw := fakeELF(r, 20000, ins, true)
	ops := plan(old, nw, false)
	for _, target := range []int{segmentTarget, 4 << 10} {
		patch, err := encodeSegments(old, nw, ops, target, lzmaMinStream, lzmaSmall)
		if err != nil {
			t.Fatal(err)
		}
		got, err := apply(t, old, patch, len(nw))
		if err != nil || !bytes.Equal(got, nw) {
			t.Fatalf("segments of %d bytes: round trip failed: %v", target, err)
		}
		f := firstFlags(t, patch)
		t.Logf("segments of %d bytes: patch %d bytes, first flags %#x", target, len(patch), f)
		if global := f&flagGlobal != 0; global != (target < segmentTarget) {
			t.Errorf("segments of %d bytes: global map sent: %v", target, global)
		}
	}
}

// TestDisjoint checks that disjoint leaves sorted, disjoint entries where
// each position moves as the entry that covered it and started first (then
// came first) did.
func TestDisjoint(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(27, 28))
	for it := 0; it < 100; it++ {
		var m relMap
		for i := range r.IntN(500) {
			start := int64(r.IntN(3000))
			m = append(m, mapEntry{start, start + int64(1+r.IntN(100)), int64(i)})
		}
		in := slices.Clone(m)
		out := m.disjoint()
		for i := 1; i < len(out); i++ {
			if out[i].start < out[i-1].end || out[i].start >= out[i].end {
				t.Fatalf("entries %d, %d: %v, %v", i-1, i, out[i-1], out[i])
			}
		}
		for p := int64(0); p < 3200; p++ {
			want := -1
			for i, e := range in {
				if e.start <= p && p < e.end && (want < 0 || e.start < in[want].start) {
					want = i
				}
			}
			got := out.find(p)
			switch {
			case want < 0 && got >= 0, want >= 0 && got < 0:
				t.Fatalf("position %d: entry %d, want %d", p, got, want)
			case want >= 0 && out[got].d != in[want].d:
				t.Fatalf("position %d: moves as entry %d, want %d", p, out[got].d, want)
			}
		}
	}
}

// TestPredictScan checks predict's code scan, which gathers the positions
// where a field may start a batch at a time, against the plain scan of one
// position after another: the same predicted bytes and the same resume
// points, for fields across batch boundaries, back to back, and crossing
// the end of the chunk.
func TestPredictScan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(29, 30))
	plain := func(p *predictor, pred, src []byte, c1, next int, dcur int64) (int, int) {
		n := len(src)
		k := max(next, 2)
		for k < c1 && k+4 <= n {
			if fieldAfter[uint16(src[k-2])<<8|uint16(src[k-1])] != 0 {
				v := int32(binary.LittleEndian.Uint32(src[k:]))
				if dt, ok := p.move(int64(k) + 4 + int64(v)); ok {
					if k+4 > c1 {
						return k, k
					}
					binary.LittleEndian.PutUint32(pred[k:], uint32(v+int32(dt-dcur)))
					k += 4
					continue
				}
			}
			k++
		}
		return max(k, c1), c1
	}
	hits := 0
	for it := 0; it < 3000; it++ {
		n := 8 + r.IntN(3000)
		src := randBytes(r, n)
		for range r.IntN(n / 4) {
			k := r.IntN(n)
			src[k] = [...]byte{0xE8, 0xE9, 0x05, 0x8B}[r.IntN(4)]
			if k+5 <= n {
				binary.LittleEndian.PutUint32(src[k+1:], uint32(int32(r.IntN(2*n)-n)))
			}
		}
		var m relMap
		for pos := int64(r.IntN(50)); pos < int64(n); {
			l := int64(1 + r.IntN(400))
			m = append(m, mapEntry{pos, pos + l, int64(r.IntN(21) - 10)})
			pos += l + int64(r.IntN(100))
		}
		if it%2 == 0 {
			// Every target moves: fields as dense as the bytes allow.
			m = relMap{{-1 << 40, 1 << 40, int64(r.IntN(21) - 10)}}
		}
		c1 := n/2 + r.IntN(n/2+1)
		if it%3 == 0 {
			c1 = n // and a field may end there
			src[n-5] = 0xE8
		}
		next := r.IntN(c1 + 1)
		dcur := int64(r.IntN(9) - 4)
		// Code regions that meet inside the op are one scan: a field
		// across their boundary is predicted, and the next region's scan
		// starts after it.
		var e *elfInfo
		if it%4 < 2 {
			e = &elfInfo{regions: []region{{0, kindCode}, {int64(r.IntN(n)), kindCode}}}
		}
		want, got := slices.Clone(src[:c1]), slices.Clone(src[:c1])
		wk, wc := plain(&predictor{base: m, limit: int64(n)}, want, src, c1, next, dcur)
		gp := &predictor{base: m, limit: int64(n), elf: e, hit: func(int, int, int64, int64, uint64) { hits++ }}
		gk, gc := gp.predict(got, 0, c1, src, 0, n, next, 0, dcur)
		if gk != wk || gc != wc || !bytes.Equal(got, want) {
			t.Fatalf("n %d c1 %d next %d: resume %d, %d, want %d, %d; bytes equal: %v", n, c1, next, gk, gc, wk, wc, bytes.Equal(got, want))
		}
	}
	t.Logf("%d fields predicted", hits)
}

// TestPagedFind checks the page-indexed map lookup against the plain one.
func TestPagedFind(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(25, 26))
	for it := 0; it < 200; it++ {
		// Every fourth map spans gigabytes: pages larger than the least.
		// Every fourth other one is sparse, like overrides: short entries
		// far apart, most pages empty.
		scale, short, gap := int64(1), 10000, 5000
		switch it % 4 {
		case 0:
			scale = 1 << 12
		case 1:
			short, gap = 100, 100000
		}
		var m relMap
		pos := int64(r.IntN(100))
		for range r.IntN(300) {
			l := scale * int64(1+r.IntN(short))
			m = append(m, mapEntry{pos, pos + l, int64(r.IntN(9))})
			pos += l + scale*int64(r.IntN(3))*int64(r.IntN(gap))
		}
		limit := scale * int64(r.IntN(3000000))
		idx := m.pages(limit)
		if len(idx.first) > maxPages+2 {
			t.Fatalf("%d pages", len(idx.first))
		}
		ts := []int64{-1, 0}
		for range 5000 {
			ts = append(ts, int64(r.IntN(int(pos+10000))))
		}
		for _, e := range m {
			ts = append(ts, e.start-1, e.start, e.end-1, e.end)
		}
		for _, tt := range ts {
			if a, b := m.find(tt), m.findPaged(idx, tt); a != b {
				t.Fatalf("t=%d find %d paged %d", tt, a, b)
			}
		}
	}
}

// TestApplyMapped applies from files, which Apply maps (mapOld): an x86
// patch (the predictor reads old through the same window) and a plain one;
// and fails with an error, not a crash, when the file shrinks under the
// mapping.
func TestApplyMapped(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	elfOld, elfNew := fakeELF(r, 250000, map[int]int{10: 1, 5000: 3, 90000: 2}, true)
	plainOld := codeLike(r, 2<<20)
	for i, c := range [][2][]byte{{elfOld, elfNew}, {plainOld, mutate(r, plainOld, 50)}} {
		old, nw := c[0], c[1]
		patch, err := Diff(old, nw)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "old")
		if err := os.WriteFile(path, old, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		data, unmap := mapOld(f, int64(len(old)))
		if data == nil {
			t.Skipf("case %d: old of %d bytes is not mapped here", i, len(old))
		}
		unmap()
		var out bytes.Buffer
		if err := Apply(&out, f, int64(len(old)), bytes.NewReader(patch), int64(len(nw))); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(out.Bytes(), nw) {
			t.Fatalf("case %d: mapped apply differs", i)
		}
		shrink := func(int, uint64, []byte) {
			if err := os.Truncate(path, 0); err != nil {
				t.Error(err)
			}
		}
		err = applyWith(io.Discard, f, int64(len(old)), bytes.NewReader(patch), int64(len(nw)), shrink)
		if err == nil || !strings.Contains(err.Error(), "changed while being read") {
			t.Fatalf("case %d: old shrank while mapped: got %v", i, err)
		}
	}
}
