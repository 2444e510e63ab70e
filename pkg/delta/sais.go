package delta

import "math/bits"

// Suffix array construction by induced sorting (SA-IS; Nong, Zhang and Chan,
// "Two Efficient Algorithms for Linear Time Suffix Array Construction", 2011),
// written for this package because index/suffixarray does not export its array.
//
// The text has no sentinel: a virtual sentinel, smaller than every symbol, is
// assumed after the last symbol, so the last suffix is L-type. The recursion
// runs on the reduced string stored in the upper part of sa itself.

type symbol interface{ ~byte | ~int32 }

// suffixArray returns the suffix array of text: sa[i] is the start of the
// i-th smallest suffix. len(text) must be < 1<<31.
func suffixArray(text []byte) []int32 {
	sa := make([]int32, len(text))
	sais(text, sa, 256)
	return sa
}

// bitset marks S-type or LMS positions.
type bitset []uint64

func (b bitset) get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }
func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }

// each calls f with the positions set, in increasing order.
func (b bitset) each(f func(i int)) {
	for w, x := range b {
		for ; x != 0; x &= x - 1 {
			f(w<<6 | bits.TrailingZeros64(x))
		}
	}
}

func sais[T symbol](s []T, sa []int32, k int) {
	n := len(s)
	switch n {
	case 0:
		return
	case 1:
		sa[0] = 0
		return
	}
	// Classify: S-type if s[i] < s[i+1], or equal and s[i+1] is S-type.
	// LMS: S-type after an L-type, never position 0.
	t := make(bitset, (n+63)/64)
	for i, st := n-2, false; i >= 0; i-- {
		st = s[i] < s[i+1] || (s[i] == s[i+1] && st)
		if st {
			t.set(i)
		}
	}
	lms := make(bitset, len(t))
	carry := uint64(1) // position -1 counts as S: 0 is not LMS
	for w, x := range t {
		lms[w] = x &^ (x<<1 | carry)
		carry = x >> 63
	}
	isLMS := lms.get

	cnt := make([]int32, k)
	for _, c := range s {
		cnt[c]++
	}
	bkt := make([]int32, k)
	ends := func() {
		var sum int32
		for i, c := range cnt {
			sum += c
			bkt[i] = sum
		}
	}
	starts := func() {
		var sum int32
		for i, c := range cnt {
			bkt[i] = sum
			sum += c
		}
	}
	induce := func() {
		starts()
		// The suffix before the virtual sentinel is L-type and comes first
		// in its bucket.
		c := s[n-1]
		sa[bkt[c]] = int32(n - 1)
		bkt[c]++
		for i := 0; i < n; i++ {
			j := sa[i] - 1
			if j >= 0 && !t.get(int(j)) {
				c := s[j]
				sa[bkt[c]] = j
				bkt[c]++
			}
		}
		ends()
		for i := n - 1; i >= 0; i-- {
			j := sa[i] - 1
			if j >= 0 && t.get(int(j)) {
				c := s[j]
				bkt[c]--
				sa[bkt[c]] = j
			}
		}
	}

	// Stage 1: sort the LMS substrings.
	for i := range sa {
		sa[i] = -1
	}
	ends()
	lms.each(func(i int) {
		c := s[i]
		bkt[c]--
		sa[bkt[c]] = int32(i)
	})
	induce()

	// Compact the sorted LMS positions into sa[:m].
	m := 0
	for i := 0; i < n; i++ {
		if isLMS(int(sa[i])) {
			sa[m] = sa[i]
			m++
		}
	}
	if m == 0 {
		// No LMS position: the text is non-increasing (all L-type after the
		// first S run can't happen without an LMS), so induce from scratch.
		for i := range sa {
			sa[i] = -1
		}
		induce()
		return
	}
	// Name the LMS substrings; names go to sa[m + pos/2], which holds the
	// substring's length (to the next LMS position) first. Two substrings
	// are equal when their lengths and symbols are: the types follow from
	// the symbols and the type of the LMS position ending both. The last
	// one ends at the sentinel, so it is unique.
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	last := -1
	lms.each(func(i int) {
		if last >= 0 {
			sa[m+last/2] = int32(i - last)
		}
		last = i
	})
	name := int32(0)
	prev, prevLen := -1, 0
	for i := 0; i < m; i++ {
		pos := int(sa[i])
		l := int(sa[m+pos/2])
		diff := prev < 0 || pos == last || prev == last || l != prevLen
		if !diff {
			for d := 0; d <= l; d++ {
				if s[pos+d] != s[prev+d] {
					diff = true
					break
				}
			}
		}
		if diff {
			name++
			prev, prevLen = pos, l
		}
		sa[m+pos/2] = name - 1
	}
	// Gather the names in text order into s1 = sa[n-m:].
	for i, j := n-1, n-1; i >= m; i-- {
		if sa[i] >= 0 {
			sa[j] = sa[i]
			j--
		}
	}
	s1 := sa[n-m:]
	sa1 := sa[:m]
	if int(name) < m {
		sais(s1, sa1, int(name))
	} else {
		for i, c := range s1 {
			sa1[c] = int32(i)
		}
	}

	// Stage 2: induce the full order from the sorted LMS suffixes.
	j := 0
	lms.each(func(i int) {
		s1[j] = int32(i)
		j++
	})
	for i := range sa1 {
		sa1[i] = s1[sa1[i]]
	}
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	ends()
	for i := m - 1; i >= 0; i-- {
		j := sa[i]
		sa[i] = -1
		c := s[j]
		bkt[c]--
		sa[bkt[c]] = j
	}
	induce()
}
