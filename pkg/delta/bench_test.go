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
