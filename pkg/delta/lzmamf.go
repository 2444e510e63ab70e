package delta

import (
	"encoding/binary"
	"math/bits"

	"github.com/patchkit/patchkit/internal/hugemem"
)

// The LZMA encoder's match finder: the nearest earlier position with the
// same 2 and 3 bytes, then a binary tree of the earlier suffixes that share
// a 4-byte hash, searched and re-rooted at each position (as LZMA's bt4).
// It holds the whole stream (at most maxSegmentRaw bytes), 8 bytes a
// position, and reports for each position the matches of increasing length,
// each at the smallest distance it was found at.

// The 2-byte table has a slot for every pair of bytes; the 3- and 4-byte
// tables have about one slot per byte of the stream, from 2^10 up to these
// sizes (reached from 512 KiB), so that a small stream does not touch and
// clear megabytes of tables.
const (
	mfHash2Bits    = 16
	mfHash3BitsMax = 18
	mfHash4BitsMax = 20
)

type lzMatch struct {
	len  int
	dist uint32 // 0-based: the match starts dist+1 bytes back
}

type matchFinder struct {
	data        []byte
	son         []int32 // left and right child of each position, +1 (0: none)
	h2, h3, h4  []int32 // last position with that hash, +1
	s3, s4      uint8   // 32 - bits of h3 and h4
	nice, depth int
	out         []lzMatch
}

// newMatchFinder returns a match finder over data that uses w's tables,
// growing them as needed. w.son need not be cleared: a position's two
// entries are written when it is inserted, before any later position reads
// them, and positions not inserted are never read. The hash tables are
// cleared, at the size for data (hashBits).
func newMatchFinder(data []byte, nice, depth int, w *lzmaWork) *matchFinder {
	if len(w.son) < 2*len(data) {
		w.son = hugemem.Make[int32](2 * len(data))
	}
	b3 := hashBits(len(data), mfHash3BitsMax)
	b4 := hashBits(len(data), mfHash4BitsMax)
	w.h2 = table(w.h2, 1<<mfHash2Bits)
	w.h3 = table(w.h3, 1<<b3)
	w.h4 = table(w.h4, 1<<b4)
	return &matchFinder{
		data:  data,
		son:   w.son,
		h2:    w.h2,
		h3:    w.h3,
		h4:    w.h4,
		s3:    uint8(32 - b3),
		s4:    uint8(32 - b4),
		nice:  nice,
		depth: depth,
	}
}

// hashBits is the size of a hash table for a stream of n bytes: the bits
// of n, from 10 to most.
func hashBits(n, most int) int { return min(most, max(10, bits.Len(uint(n)))) }

// table returns a cleared table of n entries, t's memory if it is large enough.
func table(t []int32, n int) []int32 {
	if cap(t) < n {
		return hugemem.Make[int32](n)
	}
	t = t[:n]
	clear(t)
	return t
}

func (mf *matchFinder) hash3(b []byte) uint32 {
	return (uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16) * 2654435761 >> mf.s3
}

func (mf *matchFinder) hash4(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b) * 2654435761 >> mf.s4
}

// find inserts position p and returns its matches (valid until the next
// call); with collect false it only inserts.
func (mf *matchFinder) find(p int, collect bool) []lzMatch {
	mf.out = mf.out[:0]
	d := mf.data
	limit := min(mf.nice, len(d)-p)
	if limit < 4 {
		// Too near the end for the tree; a later position never looks
		// back at these.
		if limit >= 2 && collect {
			mf.short(p, limit)
		}
		return mf.out
	}
	best := 1
	if collect {
		best = mf.short(p, limit)
	} else {
		mf.h2[uint32(d[p])|uint32(d[p+1])<<8] = int32(p + 1)
		mf.h3[mf.hash3(d[p:])] = int32(p + 1)
	}
	h := mf.hash4(d[p:])
	cur := int(mf.h4[h]) - 1
	mf.h4[h] = int32(p + 1)
	ptr0, ptr1 := 2*p+1, 2*p // where the next larger / smaller suffix goes
	len0, len1 := 0, 0
	for depth := mf.depth; ; depth-- {
		if cur < 0 || depth == 0 {
			mf.son[ptr0], mf.son[ptr1] = 0, 0
			break
		}
		l := min(len0, len1)
		a, b := d[cur:], d[p:p+limit]
		for l < limit && a[l] == b[l] {
			l++
		}
		if l > best {
			best = l
			if collect {
				mf.out = append(mf.out, lzMatch{l, uint32(p - cur - 1)})
			}
		}
		if l == limit {
			// p replaces cur in the tree: it takes cur's subtrees.
			mf.son[ptr1] = mf.son[2*cur]
			mf.son[ptr0] = mf.son[2*cur+1]
			break
		}
		if a[l] < b[l] {
			mf.son[ptr1] = int32(cur + 1)
			ptr1 = 2*cur + 1
			cur = int(mf.son[ptr1]) - 1
			len1 = l
		} else {
			mf.son[ptr0] = int32(cur + 1)
			ptr0 = 2 * cur
			cur = int(mf.son[ptr0]) - 1
			len0 = l
		}
	}
	return mf.out
}

// short records the 2- and 3-byte hash heads of p, adds their matches, and
// returns the longest length found (at least 1).
func (mf *matchFinder) short(p, limit int) int {
	d := mf.data
	best := 1
	i2 := uint32(d[p]) | uint32(d[p+1])<<8
	c2 := int(mf.h2[i2]) - 1
	mf.h2[i2] = int32(p + 1)
	if c2 >= 0 {
		l := matchLen(d[c2:c2+limit], d[p:p+limit])
		if l > best {
			best = l
			mf.out = append(mf.out, lzMatch{l, uint32(p - c2 - 1)})
		}
	}
	if limit < 3 {
		return best
	}
	i3 := mf.hash3(d[p:])
	c3 := int(mf.h3[i3]) - 1
	mf.h3[i3] = int32(p + 1)
	if c3 >= 0 && c3 != c2 {
		l := matchLen(d[c3:c3+limit], d[p:p+limit])
		if l > best {
			best = l
			mf.out = append(mf.out, lzMatch{l, uint32(p - c3 - 1)})
		}
	}
	return best
}
