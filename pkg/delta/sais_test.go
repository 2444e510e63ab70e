package delta

import (
	"bytes"
	"testing"
)

// checkSuffixArray fails unless sa is a permutation of the positions of
// text in increasing order of their suffixes, which is what makes it the
// suffix array; this costs the sum of the common prefixes of neighbours, so
// it suits real files where a sort by bytes.Compare would take minutes.
func checkSuffixArray(tb testing.TB, text []byte, sa []int32) {
	tb.Helper()
	if len(sa) != len(text) {
		tb.Fatalf("%d entries for %d bytes", len(sa), len(text))
	}
	seen := make([]bool, len(text))
	for i, p := range sa {
		if p < 0 || int(p) >= len(text) || seen[p] {
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
		checkSuffixArray(t, old, suffixArray(old))
		checkSuffixArray(t, nw, suffixArray(nw))
	})
}

// FuzzSuffixArray checks suffixArray on any input against the definition.
func FuzzSuffixArray(f *testing.F) {
	for _, s := range []string{"", "a", "banana", "mississippi", "abababab", "\x00\x00\x00\x01\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkSuffixArray(t, text, suffixArray(text))
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
