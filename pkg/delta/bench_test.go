package delta

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/patchkit/patchkit/internal/testcorpus"
)

// corpusPair reads one file of a corpus pair (internal/testcorpus), or skips saying why.
func corpusPair(tb testing.TB, name, oldVer, newVer, rel string) (old, nw []byte) {
	tb.Helper()
	return testcorpus.File(tb, name, oldVer, rel), testcorpus.File(tb, name, newVer, rel)
}

const lib = "usr/lib/x86_64-linux-gnu/"

var corpusCases = []struct {
	name, pkg, old, new, rel string
	large                    bool
}{
	{"webkit", "webkit2gtk", "2.50.6-1~deb12u1", "2.50.6-1~deb12u2", lib + "libwebkit2gtk-4.1.so.0.19.9", true},
	{"libssl", "libssl3", "3.0.17-1~deb12u2", "3.0.22-1~deb12u2", lib + "libssl.so.3", false},
	{"libcrypto", "libssl3", "3.0.17-1~deb12u2", "3.0.22-1~deb12u2", lib + "libcrypto.so.3", false},
	{"libnss3", "libnss3", "3.87.1-1+deb12u2", "3.87.1-1+deb12u4", lib + "libnss3.so", false},
	{"freeblpriv3", "libnss3", "3.87.1-1+deb12u2", "3.87.1-1+deb12u4", lib + "libfreeblpriv3.so", false},
}

func TestCorpus(t *testing.T) {
	for _, c := range corpusCases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.large {
				t.Skip("large corpus file in -short mode")
			}
			old, nw := corpusPair(t, c.pkg, c.old, c.new, c.rel)
			patch := roundTrip(t, old, nw)
			t.Logf("%s: %d -> %d bytes, patch %d bytes", c.rel, len(old), len(nw), len(patch))
		})
	}
}

func BenchmarkDiff(b *testing.B) {
	for _, c := range corpusCases {
		b.Run(c.name, func(b *testing.B) {
			old, nw := corpusPair(b, c.pkg, c.old, c.new, c.rel)
			b.SetBytes(int64(len(nw)))
			for b.Loop() {
				if _, err := Diff(old, nw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("synthetic-code-1MiB", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 1))
		old := codeLike(r, 1<<20)
		nw := mutate(r, old, 100)
		b.SetBytes(int64(len(nw)))
		for b.Loop() {
			if _, err := Diff(old, nw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApply(b *testing.B) {
	for _, c := range corpusCases {
		b.Run(c.name, func(b *testing.B) {
			old, nw := corpusPair(b, c.pkg, c.old, c.new, c.rel)
			patch, err := Diff(old, nw)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(nw)))
			for b.Loop() {
				if err := Apply(io.Discard, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(nw))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLZMA measures the stream coder alone, on the first 4 MiB of the
// new libcrypto (code and data, like the literal streams of a browser
// update), and on a synthetic stream of difference-like bytes. Its MB/s are
// of raw stream bytes; compare `xz --format=lzma -6` on the same bytes.
func BenchmarkLZMA(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	diffLike := make([]byte, 4<<20)
	for i := range diffLike {
		if r.IntN(4) == 0 {
			diffLike[i] = byte(r.IntN(9) - 4)
		}
	}
	inputs := map[string]func(b *testing.B) []byte{
		"libcrypto": func(b *testing.B) []byte {
			_, nw := corpusPair(b, "libssl3", "3.0.17-1~deb12u2", "3.0.22-1~deb12u2", lib+"libcrypto.so.3")
			return nw[:min(len(nw), 4<<20)]
		},
		"diff-like": func(*testing.B) []byte { return diffLike },
	}
	for name, get := range inputs {
		b.Run(name+"/encode", func(b *testing.B) {
			in := get(b)
			b.SetBytes(int64(len(in)))
			var c []byte
			for b.Loop() {
				c = lzmaCompress(in)
			}
			b.ReportMetric(float64(len(c))/float64(len(in)), "ratio")
		})
		b.Run(name+"/decode", func(b *testing.B) {
			in := get(b)
			c := lzmaCompress(in)
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := lzmaDecompress(c, uint64(len(in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
