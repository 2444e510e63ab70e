package delta

import (
	"math/bits"
	"unsafe"
)

// Suffix array construction by induced sorting (SA-IS; Nong, Zhang and Chan,
// "Two Efficient Algorithms for Linear Time Suffix Array Construction", 2011),
// written for this package because index/suffixarray does not export its array.
//
// The text has no sentinel: a virtual sentinel, smaller than every symbol, is
// assumed after the last symbol, so the last suffix is L-type. The recursion
// runs on the reduced string stored in the upper part of sa itself.

type symbol interface{ ~byte | ~uint16 | ~int32 }

// suffixArray returns the suffix array of text: sa[i] is the start of the
// i-th smallest suffix. len(text) must be < 1<<31.
func suffixArray(text []byte) []int32 {
	sa := make([]int32, len(text))
	sais(text, sa, 256)
	return sa
}

// evenSuffixArray returns the sparse suffix array of text: the suffixes
// that start at even positions, in order, at 2 bytes per byte of text
// instead of 4. It sorts text read as 16-bit symbols (big-endian pairs,
// the last padded with a zero byte): pairs compare as their bytes do, and
// the padded last pair, followed by the sentinel, still sorts before every
// longer suffix that starts with its byte. text is read as pairs in place
// and restored before return, so text must start 2-byte aligned (as a
// new allocation does), cap(text) must exceed len(text) when it is odd,
// and the padding byte text[len(text)] must be zero.
func evenSuffixArray(text []byte) []int32 {
	pairs := asPairs(text)
	defer fromPairs(pairs, text)
	k := 0 // the alphabet: up to the largest pair (small texts have few)
	for _, c := range pairs {
		k = max(k, int(c)+1)
	}
	sa := make([]int32, len(pairs))
	sais(pairs, sa, k)
	for i := range sa {
		sa[i] *= 2
	}
	return sa
}

// asPairs rewrites b[:2*ceil(len(b)/2)] in place as big-endian 16-bit
// symbols and returns them: the view a copy would give, without the copy
// (a quarter of a gigabyte for a browser). Each pair is read before its
// two bytes are written, so the result is the same on either byte order.
func asPairs(b []byte) []uint16 {
	n := (len(b) + 1) / 2
	if n == 0 {
		return nil
	}
	b = b[:2*n]
	p := unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
	for i := range p {
		p[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return p
}

// fromPairs undoes asPairs.
func fromPairs(p []uint16, b []byte) {
	b = b[:2*len(p)]
	for i := range p {
		v := p[i]
		b[2*i], b[2*i+1] = byte(v>>8), byte(v)
	}
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

// recountMin is the largest alphabet sais keeps symbol counts for.
const recountMin = 1 << 20

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

	// The bucket bounds come from the symbol counts, kept in cnt; for a
	// large alphabet (the names of the first recursion: a hundred
	// megabytes for a browser) cnt is not kept and each bound is counted
	// again from s, a pass over s each time instead of the memory.
	bkt := make([]int32, k)
	var cnt []int32
	count := func() []int32 {
		if cnt != nil {
			return cnt
		}
		clear(bkt)
		for _, c := range s {
			bkt[c]++
		}
		return bkt
	}
	if k <= recountMin {
		cnt = make([]int32, k)
		for _, c := range s {
			cnt[c]++
		}
	}
	ends := func() {
		var sum int32
		for i, c := range count() {
			sum += c
			bkt[i] = sum
		}
	}
	starts := func() {
		var sum int32
		for i, c := range count() {
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
