package delta

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// saMatcher finds the longest match by binary search in a suffix array of
// old (or of its even positions, newEvenSAMatcher), narrowed first by a
// table of where each 2-byte prefix starts, then by tables of third bytes
// and (all positions only) of zero runs, which decide the steps outside
// b's group without reading sa or old.
type saMatcher struct {
	old    []byte
	sa     []int32
	bucket []int32 // sa[bucket[k]:bucket[k+1]]: suffixes starting with k>>8, k&255
	limit  int     // if > 0, compare at most this many bytes (matches are at most that long)

	// For buckets of at least subMin suffixes, sub holds a table of 257
	// indexes into sa: where the suffixes with each third byte start, then
	// the bucket's end; subTable[k] is bucket k's table number, or -1. A
	// step of the binary search that lands outside the third byte's group
	// is decided without reading sa or old: these top steps, spread over
	// thousands of buckets, miss the cache as often as the deep ones.
	sub      []int32
	subTable []int32

	// Bucket 0 is a fifth of a library and a third of its searches, and
	// its third byte is mostly zero too. It is ordered by the run of zeros
	// a suffix starts with: first the suffixes that are zeros to the end
	// (sa[:zeroEnd], shortest first), then the others by decreasing run
	// length r (those of zeroCap zeros or more in sa[zeroEnd:zeroLong]),
	// then by the byte x after the run. zeroAt[zeroGroup(r, x)] is where
	// the suffixes with run r and then x start, for 2 <= r < zeroCap.
	zeroAt            []int32
	zeroEnd, zeroLong int
}

// zeroCap bounds the zero runs told apart by zeroAt (a table of 64 KiB).
const zeroCap = 64

// zeroGroup returns the index in zeroAt of the suffixes starting with r
// zeros and then the nonzero byte x.
func zeroGroup(r int, x byte) int { return (zeroCap-1-r)<<8 | int(x) }

// subMin is the smallest bucket given a table of third bytes: 1 KiB of
// table saves about 8 steps of each search in the bucket. Above saMaxOld
// only buckets of subMinLarge get one, which bounds the tables to 1/8 of a
// byte per suffix (17 MB for a browser, where they take 12 s off 54 s of
// searching).
const (
	subMin      = 1 << 10
	subMinLarge = 1 << 13
)

func newSAMatcher(old []byte) *saMatcher {
	m := &saMatcher{old: old, sa: suffixArray(old)}
	m.buckets(1)
	m.thirdBytes(1, subMin)
	m.zeroRuns()
	return m
}

// newEvenSAMatcher returns a matcher over the suffixes of old that start at
// even positions (evenSuffixArray, whose conditions on old's capacity and
// padding it shares): half the memory of newSAMatcher, for large files,
// where the scan searches every few bytes anyway and so finds a match that
// starts at an odd position one byte later, then extends it backwards.
func newEvenSAMatcher(old []byte) *saMatcher {
	m := &saMatcher{old: old, sa: evenSuffixArray(old)}
	m.buckets(2)
	m.thirdBytes(2, subMinLarge)
	return m
}

// buckets fills bucket from the 2-byte prefixes of the suffixes at every
// step-th position of old.
func (m *saMatcher) buckets(step int) {
	old := m.old
	m.bucket = make([]int32, 1<<16+1)
	for i := 0; i+1 < len(old); i += step {
		m.bucket[int(old[i])<<8|int(old[i+1])+1]++
	}
	// The 1-byte last suffix sorts first among those starting with its
	// byte, so it joins bucket (b, 0).
	if n := len(old); n > 0 && (n-1)%step == 0 {
		m.bucket[int(old[n-1])<<8+1]++
	}
	for k := 1; k < len(m.bucket); k++ {
		m.bucket[k] += m.bucket[k-1]
	}
}

// zeroRuns fills zeroAt, zeroEnd and zeroLong from the zero runs of old: a
// run of R zeros before the byte x holds one suffix for each run length
// from R down to 1 (those from 2 are in bucket 0), each followed by x.
func (m *saMatcher) zeroRuns() {
	old, n := m.old, len(m.old)
	at := make([]int32, zeroGroup(2, 255)+2)
	long := 0
	for i := 0; i < n; {
		if old[i] != 0 {
			i++
			continue
		}
		j := i + 1
		for j < n && old[j] == 0 {
			j++
		}
		if j == n {
			m.zeroEnd = j - i // old[n-1:] with the zeros: bucket 0 too
			break
		}
		r := j - i
		if r >= zeroCap {
			long += r - zeroCap + 1
			r = zeroCap - 1
		}
		for ; r >= 2; r-- {
			at[zeroGroup(r, old[j])+1]++
		}
		i = j
	}
	m.zeroLong = m.zeroEnd + long
	at[0] += int32(m.zeroLong)
	for g := 1; g < len(at); g++ {
		at[g] += at[g-1]
	}
	m.zeroAt = at
}

// thirdBytes fills sub and subTable, for the buckets of at least least
// suffixes, from a count of the 3-byte prefixes of the suffixes at every
// step-th position of old. Bucket 0 gets one only when zeroRuns will not
// order it (step > 1).
func (m *saMatcher) thirdBytes(step, least int) {
	old, n := m.old, len(m.old)
	if n < least {
		return
	}
	m.subTable = make([]int32, 1<<16)
	nt := int32(0)
	for k := range m.subTable {
		m.subTable[k] = -1
		if (k != 0 || step > 1) && m.bucket[k+1]-m.bucket[k] >= int32(least) {
			m.subTable[k] = nt
			nt++
		}
	}
	m.sub = make([]int32, 257*nt)
	for i := 0; i+2 < n; i += step {
		if t := m.subTable[int(old[i])<<8|int(old[i+1])]; t >= 0 {
			m.sub[257*int(t)+int(old[i+2])+1]++
		}
	}
	for k, t := range m.subTable {
		if t < 0 {
			continue
		}
		// The suffixes shorter than 3 bytes sort first in their bucket:
		// old[n-2:] in bucket (old[n-2], old[n-1]), old[n-1:] in
		// (old[n-1], 0), if they are at a step.
		g := m.sub[257*int(t):][:257]
		g[0] = m.bucket[k]
		if k == int(old[n-2])<<8|int(old[n-1]) && (n-2)%step == 0 {
			g[0]++
		}
		if k == int(old[n-1])<<8 && (n-1)%step == 0 {
			g[0]++
		}
		for c := 1; c < len(g); c++ {
			g[c] += g[c-1]
		}
	}
}

// bucketOf cuts b to the search limit and returns it with the bounds of
// its 2-byte bucket, ok false when no suffix shares those two bytes (no
// match worth having).
func (m *saMatcher) bucketOf(b []byte) (cut []byte, k, lo, hi int, ok bool) {
	if m.limit > 0 && len(b) > m.limit {
		b = b[:m.limit]
	}
	if len(m.sa) == 0 || len(b) < 2 {
		return b, 0, 0, 0, false
	}
	k = int(b[0])<<8 | int(b[1])
	lo, hi = int(m.bucket[k]), int(m.bucket[k+1])-1
	return b, k, lo, hi, lo <= hi
}

func (m *saMatcher) search(b []byte, _ int) (int, int) {
	old, sa := m.old, m.sa
	b, k, lo, hi, ok := m.bucketOf(b)
	if !ok {
		return 0, 0
	}
	// Each step asks whether the suffix, cut to len(b), sorts below b.
	// Between the bucket's short suffixes and the group of b's third
	// byte, every suffix sorts below b on its third byte; after the group,
	// above. Elsewhere the first 8 bytes, compared as one big-endian word,
	// mostly decide.
	short, first, last := lo, lo, hi // no group known: compare every step
	if t := m.subTable; t != nil && t[k] >= 0 && len(b) >= 3 {
		g := m.sub[257*int(t[k]):][:257]
		short, first, last = int(g[0]), int(g[b[2]]), int(g[int(b[2])+1])-1
	}
	if k == 0 && m.zeroAt != nil {
		// b starts with z zeros: suffixes with longer runs sort below b
		// (unless b ends there: then all sort above), with shorter ones
		// above; the all-zero ones at the start are compared.
		z := zeroPrefix(b[:min(len(b), zeroCap)])
		short = m.zeroEnd
		switch {
		case z == zeroCap:
			first, last = short, m.zeroLong-1
		case z == len(b):
			first, last = short, short-1
		default:
			g := zeroGroup(z, b[z])
			first, last = int(m.zeroAt[g]), int(m.zeroAt[g+1])-1
		}
	}
	var bw uint64
	if len(b) >= 8 {
		bw = binary.BigEndian.Uint64(b)
	}
	for hi-lo >= 2 {
		mid := lo + (hi-lo)/2
		var less bool
		if mid >= short && mid < first {
			lo = mid
			continue
		}
		if mid > last {
			hi = mid
			continue
		}
		p := int(sa[mid])
		k := min(len(old)-p, len(b))
		if k >= 8 {
			if ow := binary.BigEndian.Uint64(old[p:]); ow != bw {
				less = ow < bw
			} else {
				less = bytes.Compare(old[p+8:p+k], b[8:k]) < 0
			}
		} else {
			less = bytes.Compare(old[p:p+k], b[:k]) < 0
		}
		if less {
			lo = mid
		} else {
			hi = mid
		}
	}
	return m.longer(b, lo, hi)
}

// longer returns the longer match with b of the suffixes at sa[lo] and
// sa[hi] (the first on a tie), where the binary search ends.
func (m *saMatcher) longer(b []byte, lo, hi int) (int, int) {
	pl, ph := int(m.sa[lo]), int(m.sa[hi])
	nl, nh := matchLen(m.old[pl:], b), matchLen(m.old[ph:], b)
	if nl >= nh {
		return pl, nl
	}
	return ph, nh
}

// zeroPrefix returns the number of zero bytes b starts with.
func zeroPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if x := binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < len(b) && b[i] == 0; i++ {
	}
	return i
}
