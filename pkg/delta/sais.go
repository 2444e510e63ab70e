package delta

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

// bitset marks S-type positions.
type bitset []uint64

func (b bitset) get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }
func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }

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
	t := make(bitset, (n+63)/64)
	for i := n - 2; i >= 0; i-- {
		if s[i] < s[i+1] || (s[i] == s[i+1] && t.get(i+1)) {
			t.set(i)
		}
	}
	isLMS := func(i int) bool { return i > 0 && t.get(i) && !t.get(i-1) }

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
	for i := 1; i < n; i++ {
		if isLMS(i) {
			c := s[i]
			bkt[c]--
			sa[bkt[c]] = int32(i)
		}
	}
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
	// Name the LMS substrings; names go to sa[m + pos/2].
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	name := int32(0)
	prev := -1
	for i := 0; i < m; i++ {
		pos := int(sa[i])
		diff := false
		for d := 0; ; d++ {
			if prev == -1 || pos+d == n || prev+d == n || s[pos+d] != s[prev+d] || t.get(pos+d) != t.get(prev+d) {
				diff = true
				break
			}
			if d > 0 && (isLMS(pos+d) || isLMS(prev+d)) {
				break
			}
		}
		if diff {
			name++
			prev = pos
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
	for i, j := 1, 0; i < n; i++ {
		if isLMS(i) {
			s1[j] = int32(i)
			j++
		}
	}
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
