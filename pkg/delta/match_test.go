package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// refSearch is saMatcher.search as first written: a plain binary search
// with bytes.Compare at every step. The patch bytes depend on which of
// equally long matches search returns, so the fast paths must agree with it
// exactly, not only on the length.
func refSearch(m *saMatcher, b []byte) (int, int) {
	old, sa := m.old, m.sa
	b, _, lo, hi, ok := m.bucketOf(b)
	if !ok {
		return 0, 0
	}
	for hi-lo >= 2 {
		mid := lo + (hi-lo)/2
		p := int(sa[mid])
		k := min(len(old)-p, len(b))
		if bytes.Compare(old[p:p+k], b[:k]) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return m.longer(b, lo, hi)
}

// zeroy returns code-like bytes with zero runs of many lengths, some
// reaching the end, as in the padding of binaries.
func zeroy(r *rand.Rand, n int) []byte {
	b := codeLike(r, n)
	for range n / 64 {
		p := r.IntN(n)
		z := r.IntN(3 + r.IntN(3)*r.IntN(300))
		clear(b[p:min(n, p+z)])
	}
	if r.IntN(2) == 0 {
		clear(b[n-r.IntN(min(n, 40)):])
	}
	return b
}

// checkTables checks that the tables of third bytes and of zero runs end
// where their buckets end, so that they add up to the suffixes counted.
func checkTables(t *testing.T, m *saMatcher) {
	t.Helper()
	for k, tb := range m.subTable {
		if tb >= 0 && m.sub[257*int(tb)+256] != m.bucket[k+1] {
			t.Fatalf("bucket %#04x: table of third bytes ends at %d, bucket at %d", k, m.sub[257*int(tb)+256], m.bucket[k+1])
		}
	}
	if m.zeroAt != nil && m.zeroAt[len(m.zeroAt)-1] != m.bucket[1] {
		t.Fatalf("zero runs end at %d, bucket 0 at %d", m.zeroAt[len(m.zeroAt)-1], m.bucket[1])
	}
}

// checkSearch compares search with refSearch for every every-th suffix of
// nw, cut to maxLen and to a few shorter lengths.
func checkSearch(t *testing.T, m *saMatcher, nw []byte, every, maxLen int) {
	t.Helper()
	checkTables(t, m)
	for i := 0; i < len(nw); i += every {
		for _, end := range []int{min(len(nw), i+maxLen), min(len(nw), i+1+i%23), min(len(nw), i+2+i%7)} {
			b := nw[i:end]
			gp, gn := m.search(b, i)
			wp, wn := refSearch(m, b)
			if gp != wp || gn != wn {
				t.Fatalf("search(nw[%d:%d]) = %d, %d; want %d, %d", i, end, gp, gn, wp, wn)
			}
		}
	}
}

// fewSymbols returns n bytes of k symbols, the i-th case of a test: every
// third one followed by zero runs, and ending in each kind of short suffix.
func fewSymbols(r *rand.Rand, i, n, k int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.IntN(k))
	}
	if i%3 == 0 {
		b = append(b, zeroy(r, 3000)...)
	}
	b[len(b)-1] = byte(i % 2)
	b[len(b)-2] = byte(i / 2 % 2)
	return b
}

func TestSearchSynthetic(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		n := 2 + r.IntN(3000)
		old := zeroy(r, n)
		nw := mutate(r, old, 5)
		nw = append(nw, zeroy(r, 1+r.IntN(500))...)
		m := newSAMatcher(old)
		checkSearch(t, m, nw, 1, len(nw))
		checkSearch(t, m, old, 1, len(old))
	}
	// Buckets large enough for tables of third bytes (subMin), from a
	// small alphabet, with runs, and ending in each kind of short suffix.
	for i := range 12 {
		old := fewSymbols(r, i, 20000+r.IntN(20000), 2+i%4)
		m := newSAMatcher(old)
		if m.sub == nil {
			t.Fatal("no table of third bytes")
		}
		checkSearch(t, m, mutate(r, old, 20), 3, 200)
		checkSearch(t, m, old[len(old)-500:], 1, 500)
	}
	for _, old := range [][]byte{{0}, {0, 0}, {1, 0}, {0, 0, 0, 1}, bytes.Repeat([]byte{0}, 100), bytes.Repeat([]byte{0}, 5000)} {
		m := newSAMatcher(old)
		for _, nw := range [][]byte{{0, 0}, {0, 0, 0}, {0, 0, 1}, bytes.Repeat([]byte{0}, 200)} {
			checkSearch(t, m, nw, 1, len(nw))
		}
	}
}

// TestEvenSearch checks the matcher over even suffixes against a brute
// force: the longest match at an even position of old, on files of odd and
// even length with runs, short alphabets and each kind of short last suffix.
func TestEvenSearch(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 100 {
		n := 1 + r.IntN(1200)
		old := zeroy(r, n)
		if i%2 == 0 {
			for j := range old {
				old[j] &= byte(1 + i%4)
			}
		}
		old = padded(old)
		m := newEvenSAMatcher(old)
		if int(m.bucket[1<<16]) != len(m.sa) {
			t.Fatalf("buckets hold %d suffixes, the array %d", m.bucket[1<<16], len(m.sa))
		}
		nw := append(mutate(r, old, 5), old[n-1-r.IntN(min(n, 3)):]...)
		for j := range nw {
			b := nw[j:min(len(nw), j+1+r.IntN(300))]
			pos, got := m.search(b, j)
			want := 0
			for p := 0; p < n && len(b) >= 2; p += 2 {
				want = max(want, matchLen(old[p:], b))
			}
			if want < 2 && got < 2 {
				continue // no suffix shares b's first two bytes: no search
			}
			// A suffix that is a prefix of b sorts below it but compares
			// equal once cut to its length, which can end the binary search
			// on it (as in the dense matcher): only the last suffixes can.
			short := pos+got == n && got < want
			if (got != want && !short) || pos%2 != 0 || !bytes.Equal(old[pos:pos+got], b[:got]) {
				t.Fatalf("n=%d: search(nw[%d:%d]) = %d, %d; want an even position and length %d", n, j, j+len(b), pos, got, want)
			}
		}
	}
}

// TestEvenSearchTables checks the even matcher's tables of third bytes
// (buckets of subMinLarge suffixes, bucket 0 included) against refSearch.
func TestEvenSearchTables(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 8 {
		old := padded(fewSymbols(r, i, 150000+r.IntN(20000), 2+i%2))
		m := newEvenSAMatcher(old)
		if m.sub == nil || m.subTable[0] < 0 {
			t.Fatalf("no table of third bytes for bucket 0 (%d suffixes)", m.bucket[1])
		}
		checkSearch(t, m, mutate(r, old, 20), 3, 200)
		checkSearch(t, m, old[len(old)-500:], 1, 500)
	}
}

func TestSearchCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus search in -short mode")
	}
	t.Parallel()
	forSmallCorpus(t, func(t *testing.T, old, nw []byte) {
		checkSearch(t, newSAMatcher(old), nw, 7, 1<<16)
	})
}

// forSmallCorpus runs f on each corpus pair that is not large, as a subtest.
func forSmallCorpus(t *testing.T, f func(t *testing.T, old, nw []byte)) {
	for _, c := range corpusCases {
		if c.large {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			old, nw := corpusPair(t, c.pkg, c.old, c.new, c.rel)
			f(t, old, nw)
		})
	}
}
