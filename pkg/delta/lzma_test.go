package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os/exec"
	"slices"
	"testing"
)

// lzmaInputs are small inputs of the shapes the streams have: random bytes,
// long runs, text-like repeats, and varints with structure.
func lzmaInputs() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := make([]byte, 70000)
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	var text []byte
	words := []string{"patch ", "bundle ", "delta ", "x86 ", "segment ", "\n"}
	for len(text) < 200000 {
		text = append(text, words[r.IntN(len(words))]...)
	}
	var ctrl []byte
	for len(ctrl) < 150000 {
		ctrl = append(ctrl, byte(r.IntN(4)), byte(r.IntN(200)), 0, 0x80|byte(r.IntN(3)), 1)
	}
	mixed := append(append(append([]byte{}, rnd[:5000]...), make([]byte, 3000)...), text[:9000]...)
	mixed = append(mixed, rnd[:5000]...) // a far repeat
	return map[string][]byte{
		"empty":  {},
		"one":    {42},
		"two":    {1, 1},
		"zeros":  make([]byte, 1<<20),
		"random": rnd,
		"text":   text,
		"ctrl":   ctrl,
		"mixed":  mixed,
	}
}

// lzmaTestProps are the property sets the encoder uses (streamProps).
var lzmaTestProps = []lzmaProps{lzmaDefaultProps, streamProps[stDiff], streamProps[stExtra]}

func TestLZMARoundTrip(t *testing.T) {
	t.Parallel()
	for name, in := range lzmaInputs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// One work for every property set: a tree reused from a
			// stream of the same size must code as a new one does.
			var w lzmaWork
			for _, p := range lzmaTestProps {
				c := w.compress(in, p)
				out, err := lzmaDecompress(c, uint64(len(in)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("%+v: round trip differs", p)
				}
				if fresh := new(lzmaWork).compress(in, p); !bytes.Equal(fresh, c) {
					t.Fatalf("%+v: not deterministic", p)
				}
				t.Logf("%+v: %d -> %d", p, len(in), len(c))
			}
		})
	}
}

// TestLZMAWorkReuse codes streams of different sizes with one work, in both
// orders: tables kept from a larger or a smaller stream must code as new
// ones do (they are resized and cleared, the tree is not).
func TestLZMAWorkReuse(t *testing.T) {
	t.Parallel()
	ins := lzmaInputs()
	names := []string{"zeros", "text", "ctrl", "random", "mixed", "two", "one", "empty"}
	rev := slices.Clone(names)
	slices.Reverse(rev)
	for _, order := range [][]string{names, rev} {
		var w lzmaWork
		for _, name := range order {
			in := ins[name]
			if got, want := w.compress(in, lzmaDefaultProps), new(lzmaWork).compress(in, lzmaDefaultProps); !bytes.Equal(got, want) {
				t.Fatalf("%s after %v: %d bytes, a new work codes %d", name, order, len(got), len(want))
			}
		}
	}
}

// TestLZMAInteropXZ decodes the encoder's streams with xz, a real LZMA
// decoder, as .lzma files.
func TestLZMAInteropXZ(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz is not installed (apt-get install xz-utils)")
	}
	for name, in := range lzmaInputs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, p := range lzmaTestProps {
				cmd := exec.Command("xz", "--format=lzma", "-dc")
				cmd.Stdin = bytes.NewReader(new(lzmaWork).compress(in, p))
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%+v: xz: %v", p, err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("%+v: xz decodes other bytes", p)
				}
			}
		})
	}
}

func TestLZMARejects(t *testing.T) {
	t.Parallel()
	in := lzmaInputs()["text"]
	good := lzmaCompress(in)
	n := uint64(len(in))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	cases := map[string]struct {
		b []byte
		n uint64
	}{
		"short header":   {good[:10], n},
		"bad props":      {mod(func(b []byte) []byte { b[0] = 225; return b }), n},
		"lc+lp over 4":   {mod(func(b []byte) []byte { b[0] = lzmaProps{lc: 4, lp: 1}.byte(); return b }), n},
		"huge dict":      {mod(func(b []byte) []byte { b[4] = 0x10; return b }), n},
		"size mismatch":  {good, n - 1},
		"truncated":      {good[:len(good)-3], n},
		"trailing":       {append(append([]byte{}, good...), 0), n},
		"first byte set": {mod(func(b []byte) []byte { b[lzmaHeaderSize] = 1; return b }), n},
		"flipped":        {mod(func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }), n},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := lzmaDecompress(c.b, c.n); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzLZMADecompress(f *testing.F) {
	for _, in := range lzmaInputs() {
		if len(in) < 4096 {
			f.Add(lzmaCompress(in), uint32(len(in)))
		}
	}
	f.Add(lzmaCompress(lzmaInputs()["mixed"][:3000]), uint32(3000))
	f.Fuzz(func(t *testing.T, b []byte, n uint32) {
		n %= 1 << 20
		out, err := lzmaDecompress(b, uint64(n))
		if err == nil && len(out) != int(n) {
			t.Fatalf("decoded %d bytes, want %d", len(out), n)
		}
		if err == nil {
			// Whatever decodes re-encodes and decodes back the same.
			c := lzmaCompress(out)
			back, err := lzmaDecompress(c, uint64(n))
			if err != nil || !bytes.Equal(back, out) {
				t.Fatalf("re-encoding: %v", err)
			}
		}
	})
}

// TestLZMAStreams checks patches whose streams are LZMA-coded: every
// segment that uses it says so in its flags, the patch applies, it is
// smaller than with zstd alone, and a changed coder byte is refused.
func TestLZMAStreams(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(27, 28))
	old, nw := fakeELF(r, 3000, map[int]int{10: 2, 200: 1, 900: 3, 2500: 1}, true)
	ops := plan(old, nw, false)
	zs, err := encodeSegments(old, nw, ops, 8<<10, lzmaMinStream, 0)
	if err != nil {
		t.Fatal(err)
	}
	lz, err := encodeSegments(old, nw, ops, 8<<10, 256, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][]byte{"zstd": zs, "lzma": lz} {
		got, err := apply(t, old, p, len(nw))
		if err != nil || !bytes.Equal(got, nw) {
			t.Fatalf("%s: round trip failed: %v", name, err)
		}
	}
	if f := firstFlags(t, lz); f&flagCoders == 0 {
		t.Fatalf("first segment flags %#x: no coder bytes", f)
	}
	if f := firstFlags(t, zs); f&flagCoders != 0 {
		t.Fatalf("zstd-only patch has flags %#x", f)
	}
	t.Logf("zstd %d bytes, with LZMA %d bytes", len(zs), len(lz))
	if len(lz) >= len(zs) {
		t.Errorf("LZMA streams did not make the patch smaller: %d >= %d", len(lz), len(zs))
	}
	// A patch whose streams are small (under lzmaSmall in all) codes
	// every one of lzmaTiny bytes or more with LZMA: zstd's tables would
	// cost more than it saves.
	small, err := encodeSegments(old, nw, ops, segmentTarget, lzmaMinStream, lzmaSmall)
	if err != nil {
		t.Fatal(err)
	}
	at, raw := coderOffsets(t, small)
	if len(at) == 0 {
		t.Fatal("small patch: no coder bytes")
	}
	for k, i := range at {
		want := byte(coderZstd)
		if raw[k] >= lzmaTiny {
			want = coderLZMA
		}
		if small[i] != want {
			t.Errorf("small patch: coder %d for %d raw bytes, want %d", small[i], raw[k], want)
		}
	}
	t.Logf("small patch: streams of %v bytes", raw)
	// Every byte value but the two coders is refused wherever a coder
	// byte stands; find them by walking the first segment's streams.
	at, _ = coderOffsets(t, lz)
	if len(at) == 0 {
		t.Fatal("no coder bytes found")
	}
	for _, i := range at {
		for _, c := range []byte{2, 0xFF} {
			bad := append([]byte{}, lz...)
			bad[i] = c
			if _, err := apply(t, old, bad, len(nw)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("coder %d at %d: got %v", c, i, err)
			}
		}
	}
}

// coderOffsets returns where the coder bytes of a patch's first segment
// are, and the raw sizes of their streams.
func coderOffsets(t *testing.T, p []byte) (at, raw []int) {
	t.Helper()
	i := len(magic) + 1
	for range 2 { // old and new sizes
		_, n := binary.Uvarint(p[i:])
		i += n
	}
	flags := p[i]
	i++
	if flags&flagCoders == 0 {
		return nil, nil
	}
	streams := numStreams
	if flags&flagOverrides != 0 {
		streams++
	}
	if flags&flagGlobal != 0 {
		streams++
	}
	for range streams {
		h, n := binary.Uvarint(p[i:])
		i += n
		if h&1 == 0 {
			i += int(h >> 1)
			continue
		}
		at, raw = append(at, i), append(raw, int(h>>1))
		i++
		c, n := binary.Uvarint(p[i:])
		i += n + int(c)
	}
	return at, raw
}
