package delta

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/patchkit/patchkit/internal/hugemem"
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
	sa := hugemem.Make[int32](len(text))
	sais(text, sa, 256, twoCoreMin())
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
	sa := hugemem.Make[int32](len(pairs))
	sais(pairs, sa, k, twoCoreMin())
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

// sais sorts the suffixes of s, symbols below k, into sa, on two cores
// where the text (or a reduced one) has twoMin symbols or more.
func sais[T symbol](s []T, sa []int32, k, twoMin int) {
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
		scanInduce(s, sa, t, bkt, false, n >= twoMin)
		ends()
		scanInduce(s, sa, t, bkt, true, n >= twoMin)
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
	// substring's length (to the next LMS position) first.
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
	// Equal substrings are neighbours in sa[:m]: mark where each new one
	// starts (in two halves at once on a large text, as the comparisons
	// read s at random), then give the names.
	first := make(bitset, (m+63)/64)
	mark := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if i == 0 || !sameLMS(s, sa, m, last, int(sa[i-1]), int(sa[i])) {
				first.set(i)
			}
		}
	}
	if n < twoMin {
		mark(0, m)
	} else {
		half := m / 128 * 64 // whole words of first on each side
		var wg sync.WaitGroup
		wg.Go(func() { mark(half, m) })
		mark(0, half)
		wg.Wait()
	}
	name := int32(0)
	for i := 0; i < m; i++ {
		if first.get(i) {
			name++
		}
		sa[m+int(sa[i])/2] = name - 1
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
		sais(s1, sa1, int(name), twoMin)
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

// sameLMS reports whether the LMS substrings at a and b are equal, given
// their lengths in sa[m+pos/2] and the last LMS position (whose substring
// ends at the sentinel, so is unique). The types follow from the symbols
// and the type of the LMS position ending both.
func sameLMS[T symbol](s []T, sa []int32, m, last, a, b int) bool {
	if a == last || b == last {
		return false
	}
	l := int(sa[m+a/2])
	if l != int(sa[m+b/2]) {
		return false
	}
	for d := 0; d <= l; d++ {
		if s[a+d] != s[b+d] {
			return false
		}
	}
	return true
}

// twoCoreMin is the text length from which sais uses two cores, if it
// may: below 8 Mi symbols the handoffs cost more CPU than the second core
// gives back.
func twoCoreMin() int {
	if runtime.GOMAXPROCS(0) < 2 {
		return math.MaxInt
	}
	return 8 << 20
}

// induceBlock is the number of suffix array entries scanInduce copies at
// a time, and lookChunk the entries one goroutine looks up at a time.
const (
	induceBlock = 1 << 15
	lookChunk   = 1 << 10
	blockChunks = induceBlock / lookChunk
)

// scanInduce is one induction pass of SA-IS: left to right (sType false),
// each entry sa[i] = j+1 whose predecessor j is L-type puts j at the head
// of bucket s[j]; right to left (sType true), each whose predecessor is
// S-type puts j at the tail of bucket s[j]. bkt holds the heads or tails.
//
// Most of the pass is its reads of t and s at random j. With two set, it
// works a block of entries at a time, two blocks ahead of its writes: after
// writing block b it copies block b+2, and it and a second goroutine look
// up the symbols of the copies in chunks (the pass takes the chunks of
// block b+1 that the helper has not reached, then writes block b+1). The
// pass uses a looked-up symbol only where the entry is still the one
// copied (writing may fill or rewrite entries ahead), and looks up the
// others itself: the result does not depend on the timing, as a suffix
// array is unique. The two wait for each other by spinning, as a chunk
// takes microseconds (a channel would hand the helper to the waiting core
// and run both on one), and the pass goes on alone if the helper keeps it
// waiting (patience).
func scanInduce[T symbol](s []T, sa []int32, t bitset, bkt []int32, sType, two bool) {
	n := len(sa)
	sym := func(v int32) int32 {
		j := v - 1
		if j >= 0 && t.get(int(j)) == sType {
			return int32(s[j])
		}
		return -1
	}
	put := func(v, c int32) {
		if sType {
			bkt[c]--
			sa[bkt[c]] = v - 1
		} else {
			sa[bkt[c]] = v - 1
			bkt[c]++
		}
	}
	// serial is the pass over sa[from:to] alone, in its direction.
	serial := func(from, to int) {
		if sType {
			for i := to - 1; i >= from; i-- {
				if c := sym(sa[i]); c >= 0 {
					put(sa[i], c)
				}
			}
		} else {
			for i := from; i < to; i++ {
				if c := sym(sa[i]); c >= 0 {
					put(sa[i], c)
				}
			}
		}
	}
	if !two {
		serial(0, n)
		return
	}
	// Blocks are numbered in the pass's order, and a copy lists its block's
	// entries in that order too. Chunk g is chunk g%blockChunks of block
	// g/blockChunks.
	nb := (n + induceBlock - 1) / induceBlock
	block := func(b int) []int32 {
		if sType {
			b = nb - 1 - b
		}
		return sa[b*induceBlock : min(n, (b+1)*induceBlock)]
	}
	type ahead struct {
		copy, sym []int32
		done      atomic.Int64 // chunks looked up
	}
	var bufs [3]ahead
	for i := range bufs {
		bufs[i].copy = make([]int32, 0, induceBlock)
		bufs[i].sym = make([]int32, induceBlock)
	}
	var copied, next atomic.Int64 // blocks copied, chunks taken
	look := func(g int64) {
		a := &bufs[g/blockChunks%3]
		lo := int(g%blockChunks) * lookChunk
		for k := lo; k < min(lo+lookChunk, len(a.copy)); k++ {
			a.sym[k] = sym(a.copy[k])
		}
		a.done.Add(1)
	}
	var helper sync.WaitGroup
	var stop atomic.Bool // the pass no longer reads the helper's work
	defer helper.Wait()
	defer stop.Store(true)
	helper.Go(func() {
		for {
			g := next.Add(1) - 1
			b := g / blockChunks
			if b >= int64(nb) || !await(func() bool { return copied.Load() > b }, stop.Load) {
				return
			}
			look(g)
		}
	})
	take := func(b int) {
		a := &bufs[b%3]
		a.copy = append(a.copy[:0], block(b)...)
		if sType {
			slices.Reverse(a.copy)
		}
		a.done.Store(0)
		copied.Store(int64(b + 1))
	}
	// lookups takes the chunks of block b that the helper has not.
	lookups := func(b int) {
		end := int64(b+1) * blockChunks
		for {
			g := next.Load()
			if g >= end {
				return
			}
			if next.CompareAndSwap(g, g+1) {
				look(g)
			}
		}
	}
	pat := patience{start: time.Now()}
	take(0)
	if nb > 1 {
		take(1)
	}
	lookups(0)
	for b := range nb {
		a := &bufs[b%3]
		if !pat.wait(func() bool { return a.done.Load() == blockChunks }) {
			// The helper has no core (more goroutines want one than there
			// are): finish alone rather than wait for it.
			if sType {
				serial(0, min(n, (nb-b)*induceBlock))
			} else {
				serial(b*induceBlock, n)
			}
			return
		}
		blk := block(b)
		for x, want := range a.copy {
			k := x
			if sType {
				k = len(blk) - 1 - x
			}
			v := blk[k]
			c := a.sym[x]
			if v != want {
				c = sym(v)
			}
			if c >= 0 {
				put(v, c)
			}
		}
		if b+2 < nb {
			take(b + 2)
		}
		if b+1 < nb {
			lookups(b + 1)
		}
	}
}

// await spins until ready, yielding the processor now and then, and
// reports whether it got there before quit said to stop.
func await(ready, quit func() bool) bool {
	for i := 0; !ready(); i++ {
		if i&63 == 63 {
			if quit() {
				return false
			}
			runtime.Gosched()
		}
	}
	return true
}

// patience is how long an induction pass waits for its helper: at most a
// quarter of its time, beyond 5 ms. A wait is microseconds while both have
// a core, a few milliseconds over a pass when the collector or the system
// takes one for a while; when more goroutines want a core than there are,
// the helper is off its core for the scheduler's 10 ms slice at a time,
// and a pass that kept waiting took 3.6 times as long as one goroutine
// beside two busy ones (10 times beside three).
type patience struct {
	start  time.Time
	waited time.Duration
}

// wait waits for ready and reports whether it came in time.
func (p *patience) wait(ready func() bool) bool {
	if ready() {
		return true
	}
	t0 := time.Now()
	ok := await(ready, func() bool {
		w := p.waited + time.Since(t0)
		return w > 5*time.Millisecond && 4*w > time.Since(p.start)
	})
	p.waited += time.Since(t0)
	return ok
}
