package delta

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// checkSuffixArray fails unless sa is a permutation of the positions of
// text that are multiples of step, in increasing order of their suffixes,
// which is what makes it the (step 1) or the even (step 2) suffix array;
// this costs the sum of the common prefixes of neighbours, so it suits real
// files where a sort by bytes.Compare would take minutes.
func checkSuffixArray(tb testing.TB, text []byte, sa []int32, step int) {
	tb.Helper()
	if len(sa) != (len(text)+step-1)/step {
		tb.Fatalf("%d entries for %d bytes at step %d", len(sa), len(text), step)
	}
	seen := make([]bool, len(text))
	for i, p := range sa {
		if p < 0 || int(p) >= len(text) || int(p)%step != 0 || seen[p] {
			tb.Fatalf("sa[%d] = %d: out of range or repeated", i, p)
		}
		seen[p] = true
		if i > 0 && bytes.Compare(text[sa[i-1]:], text[p:]) >= 0 {
			tb.Fatalf("sa[%d] = %d, sa[%d] = %d: out of order", i-1, sa[i-1], i, p)
		}
	}
}

func TestSuffixArrayCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus suffix arrays in -short mode")
	}
	t.Parallel()
	forSmallCorpus(t, func(t *testing.T, old, nw []byte) {
		checkSuffixArray(t, old, suffixArray(old), 1)
		checkSuffixArray(t, nw, suffixArray(nw), 1)
		checkSuffixArray(t, old, evenSuffixArray(padded(old)), 2)
	})
}

// TestSuffixArrayRecount sorts a text whose first recursion has more
// names than recountMin, where sais counts bucket bounds again from the
// text instead of keeping the counts.
func TestSuffixArrayRecount(t *testing.T) {
	if testing.Short() {
		t.Skip("6 MB suffix array in -short mode")
	}
	t.Parallel()
	text := randBytes(rand.New(rand.NewPCG(3, 4)), 6<<20)
	checkSuffixArray(t, text, suffixArray(text), 1)
}

// TestSuffixArrayTwoCores sorts with the two-core paths (which Diff takes
// from 8 Mi symbols) on texts of a few blocks: random bytes, and zeros with
// sparse changes, where the induction rewrites many of the entries it
// copied ahead. As bytes against the definition, as pairs against the
// one-core result.
func TestSuffixArrayTwoCores(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	sparse := make([]byte, 200<<10)
	for range 2000 {
		sparse[r.IntN(len(sparse))] = byte(r.IntN(4))
	}
	for _, text := range [][]byte{randBytes(r, 200<<10), sparse} {
		sa := make([]int32, len(text))
		sais(text, sa, 256, 0)
		checkSuffixArray(t, text, sa, 1)
		pairs := asPairs(padded(text))
		one, two := make([]int32, len(pairs)), make([]int32, len(pairs))
		sais(pairs, one, 1<<16, math.MaxInt)
		sais(pairs, two, 1<<16, 0)
		if !slices.Equal(one, two) {
			t.Fatal("the even suffix arrays on one and two cores differ")
		}
	}
}

// TestSuffixArrayTwoCoresBusy sorts on two cores while more goroutines
// than cores keep busy, where the induction passes stop waiting for their
// helper and finish alone.
func TestSuffixArrayTwoCoresBusy(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Go(func() {
			for x := 0; !stop.Load(); x++ {
			}
		})
	}
	text := randBytes(rand.New(rand.NewPCG(7, 8)), 1<<20)
	sa := make([]int32, len(text))
	sais(text, sa, 256, 0)
	stop.Store(true)
	wg.Wait()
	checkSuffixArray(t, text, sa, 1)
}

// padded returns a copy of b with the zero byte after it that
// evenSuffixArray needs when len(b) is odd.
func padded(b []byte) []byte {
	return append(make([]byte, 0, len(b)+1), b...)
}

// FuzzSuffixArray checks suffixArray and evenSuffixArray on any input
// against the definition, and that evenSuffixArray gives its text back.
func FuzzSuffixArray(f *testing.F) {
	for _, s := range []string{"", "a", "banana", "mississippi", "abababab", "\x00\x00\x00\x01\x00\x00", "\x01\x00\x01", "a\x00a\x00a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkSuffixArray(t, text, suffixArray(text), 1)
		sa := make([]int32, len(text))
		sais(text, sa, 256, 0) // the two-core paths
		checkSuffixArray(t, text, sa, 1)
		p := padded(text)
		checkSuffixArray(t, text, evenSuffixArray(p), 2)
		if !bytes.Equal(p, text) {
			t.Fatalf("evenSuffixArray changed its text: %q, was %q", p, text)
		}
	})
}

func BenchmarkSuffixArray(b *testing.B) {
	for _, c := range corpusCases {
		if c.large {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			old, _ := corpusPair(b, c.pkg, c.old, c.new, c.rel)
			b.SetBytes(int64(len(old)))
			for b.Loop() {
				suffixArray(old)
			}
		})
	}
}
