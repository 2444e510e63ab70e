package delta

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"sync"
)

// An op is one step of a patch, as in bsdiff: add bytes (old + difference),
// then literal bytes, then move the old position by seek.
type op struct {
	add   int // bytes of new made from old[oldPos:] plus a difference byte each
	extra int // literal bytes of new
	seek  int // signed move of oldPos after the add
}

// A matcher finds a long match in old for the start of a new slice.
type matcher interface {
	// search returns pos and n such that old[pos:pos+n] == b[:n], n as
	// large as the matcher can find (0 when nothing was found). b starts at
	// offset at of new.
	search(b []byte, at int) (pos, n int)
}

// blockMatcher indexes old at every blockSize-th position by content and
// finds a match when b starts with an indexed block (HDiffPatch-style block
// pre-matching). It needs 16 bytes of table per block instead of a suffix
// array: the choice for large, mostly unchanged files. The two halves of old
// are indexed concurrently into two tables; lookups try the first half's
// first, so the earliest copy of a block wins whatever the scheduling.
type blockMatcher struct {
	old    []byte
	tables [2]blockTable
}

// A blockTable is an open-addressing hash table of old blocks: each slot
// holds position+1 in the low and a hash fingerprint in the high 32 bits.
type blockTable struct {
	slots []uint64
	mask  uint64
}

const blockSize = 32

func blockHash(b []byte) uint64 {
	a := binary.LittleEndian.Uint64(b)
	c := binary.LittleEndian.Uint64(b[8:])
	d := binary.LittleEndian.Uint64(b[16:])
	e := binary.LittleEndian.Uint64(b[24:])
	h := a*0x9E3779B97F4A7C15 ^ bits.RotateLeft64(c*0xC2B2AE3D27D4EB4F, 17) ^
		bits.RotateLeft64(d*0x165667B19E3779F9, 31) ^ bits.RotateLeft64(e*0x27D4EB2F165667C5, 47)
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>32
}

func newBlockMatcher(old []byte) *blockMatcher {
	m := &blockMatcher{old: old}
	nb := len(old) / blockSize
	half := nb / 2 * blockSize
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.tables[1] = buildBlockTable(old, half, nb*blockSize)
	}()
	m.tables[0] = buildBlockTable(old, 0, half)
	wg.Wait()
	return m
}

// buildBlockTable indexes the blocks of old[from:to], keeping the first copy
// of repeated blocks.
func buildBlockTable(old []byte, from, to int) blockTable {
	size := 64
	for size < 2*(to-from)/blockSize {
		size <<= 1
	}
	t := blockTable{slots: make([]uint64, size), mask: uint64(size - 1)}
	// Hash a batch first so that the slot loads of a batch overlap.
	const batch = 16
	var hs [batch]uint64
	for p0 := from; p0+blockSize <= to; p0 += batch * blockSize {
		n := min(batch, (to-p0)/blockSize)
		for i := range n {
			hs[i] = blockHash(old[p0+i*blockSize:])
			_ = t.slots[hs[i]&t.mask]
		}
		for i := range n {
			p := p0 + i*blockSize
			t.insert(old, p, hs[i])
		}
	}
	return t
}

func (t *blockTable) insert(old []byte, p int, h uint64) {
	{
		blk := old[p : p+blockSize]
		fp := h &^ 0xFFFFFFFF
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			c := t.slots[i]
			if c == 0 {
				t.slots[i] = fp | uint64(p+1)
				break
			}
			if c&^0xFFFFFFFF == fp {
				q := int(uint32(c) - 1)
				if bytes.Equal(old[q:q+blockSize], blk) {
					break // keep the first copy
				}
			}
		}
	}
}

func (m *blockMatcher) search(b []byte, _ int) (int, int) {
	if len(b) < blockSize {
		return 0, 0
	}
	blk := b[:blockSize]
	h := blockHash(blk)
	fp := h &^ 0xFFFFFFFF
	for _, t := range &m.tables {
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			c := t.slots[i]
			if c == 0 {
				break
			}
			if c&^0xFFFFFFFF != fp {
				continue
			}
			q := int(uint32(c) - 1)
			if bytes.Equal(m.old[q:q+blockSize], blk) {
				return q, blockSize + matchLen(m.old[q+blockSize:], b[blockSize:])
			}
		}
	}
	return 0, 0
}

// matchLen returns the length of the common prefix of a and b.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
		if x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// countEqual returns the number of positions i where a[i] == b[i].
func countEqual(a, b []byte) int {
	n := min(len(a), len(b))
	c := 0
	i := 0
	const lo7 = 0x7F7F7F7F7F7F7F7F
	for ; i+8 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
		if x == 0 {
			c += 8
			continue
		}
		y := (x & lo7) + lo7
		y = ^(y | x | lo7) // 0x80 in every zero byte of x
		c += bits.OnesCount64(y)
	}
	for ; i < n; i++ {
		if a[i] == b[i] {
			c++
		}
	}
	return c
}

// scan runs the bsdiff search over nw[start:end] (Colin Percival, "Naive
// differences of executable code", 2003): it looks for exact matches that
// beat continuing at the last offset by more than a few bytes, and extends
// each one forwards and backwards while at least half of the bytes agree, so
// that code where only displacements changed becomes one add op with a
// sparse difference. startPos is the assumed old position at start. It
// returns the ops, whose last seek is 0, and the old position after them.
func scan(m matcher, old, nw []byte, start, end, startPos int, opts scanOpts) ([]op, int) {
	var ops []op
	pos, length := 0, 0
	sc := start
	lastscan, lastpos, lastoffset := start, startPos, startPos-start
	for sc < end {
		oldscore := 0
		sc += length
		scsc := sc
		for ; sc < end; sc++ {
			pos, length = m.search(nw[sc:end], sc)
			if e := sc + length; scsc < e {
				if scsc >= sc && pos-sc == lastoffset {
					oldscore += e - scsc // inside the exact match
				} else {
					oldscore += countAt(old, nw, scsc, e, lastoffset)
				}
				scsc = e
			}
			if (length == oldscore && length != 0) || length > oldscore+opts.cost(pos-sc-lastoffset) {
				break
			}
			// Between searches (every stride bytes), keep the score of the
			// last offset in step, as if each position had been tried.
			for i := 0; ; {
				if o := sc + lastoffset; o >= 0 && o < len(old) && old[o] == nw[sc] {
					oldscore--
				}
				if i++; i == opts.stride || sc+1 >= end {
					break
				}
				sc++
			}
		}
		if length == oldscore && sc != end {
			continue
		}
		// Forward extension from the last match.
		lenf := extendForward(old, nw, lastpos, lastscan, sc)
		lenb := 0
		if sc < end {
			lenb = extendBackward(old, nw, pos, sc, lastscan)
		}
		if lastscan+lenf > sc-lenb {
			overlap := (lastscan + lenf) - (sc - lenb)
			s, best, lens := 0, 0, 0
			for i := 0; i < overlap; i++ {
				if nw[lastscan+lenf-overlap+i] == old[lastpos+lenf-overlap+i] {
					s++
				}
				if nw[sc-lenb+i] == old[pos-lenb+i] {
					s--
				}
				if s > best {
					best, lens = s, i+1
				}
			}
			lenf += lens - overlap
			lenb -= lens
		}
		o := op{add: lenf, extra: (sc - lenb) - (lastscan + lenf)}
		if sc < end {
			o.seek = (pos - lenb) - (lastpos + lenf)
		}
		ops = append(ops, o)
		if sc == end {
			return ops, lastpos + lenf
		}
		lastscan = sc - lenb
		lastpos = pos - lenb
		lastoffset = pos - sc
	}
	// Reached only when start == end.
	return ops, startPos
}

// countAt counts i in [a,b) with old[i+off] == nw[i], old index in range.
func countAt(old, nw []byte, a, b, off int) int {
	lo, hi := a+off, b+off
	if lo < 0 {
		a -= lo
		lo = 0
	}
	if hi > len(old) {
		b -= hi - len(old)
		hi = len(old)
	}
	if a >= b {
		return 0
	}
	return countEqual(old[lo:hi], nw[a:b])
}

// extendForward returns the length f maximizing 2*matches-f over prefixes of
// nw[from:to] against old[pos:].
func extendForward(old, nw []byte, pos, from, to int) int {
	n := min(to-from, len(old)-pos)
	if n <= 0 {
		return 0
	}
	a, b := old[pos:pos+n], nw[from:from+n]
	s, best, lenf := 0, 0, 0
	i := 0
	for i < n {
		if i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
			// The score only grows over equal bytes: check at the end.
			s += 8
			i += 8
			if 2*s-i > 2*best-lenf {
				best, lenf = s, i
			}
			continue
		}
		if a[i] == b[i] {
			s++
		}
		i++
		if 2*s-i > 2*best-lenf {
			best, lenf = s, i
		}
	}
	return lenf
}

// extendBackward returns the length l maximizing 2*matches-l over suffixes of
// nw[lower:at] against old[:pos].
func extendBackward(old, nw []byte, pos, at, lower int) int {
	n := min(at-lower, pos)
	if n <= 0 {
		return 0
	}
	a, b := old[pos-n:pos], nw[at-n:at]
	s, best, lenb := 0, 0, 0
	for i := 1; i <= n; {
		if i+8 <= n+1 && binary.LittleEndian.Uint64(a[n-i-7:]) == binary.LittleEndian.Uint64(b[n-i-7:]) {
			s += 8
			i += 8
			if 2*s-(i-1) > 2*best-lenb {
				best, lenb = s, i-1
			}
			continue
		}
		if a[n-i] == b[n-i] {
			s++
		}
		if 2*s-i > 2*best-lenb {
			best, lenb = s, i
		}
		i++
	}
	return lenb
}

// scanOpts tune scan. Exact, dense search (stride 1, no jump cost) is best
// on libraries; at browser scale a search every few bytes costs a cache
// miss per suffix-array step, and accepting every short match elsewhere in
// old fragments the ops into seeks that cost more than they save. The
// large stride is odd: the suffix array there holds only even positions,
// so a match at an odd offset is found by the search after the next.
type scanOpts struct {
	stride int // search every stride-th position between matches
	far    int // bytes a match must win by, beyond 8, to move by ≥ nearMove
}

const nearMove = 128

var (
	denseScan = scanOpts{stride: 1}
	largeScan = scanOpts{stride: 7, far: 24}
)

// cost returns what a match that moves the old offset by d must win by.
func (o scanOpts) cost(d int) int {
	if d > -nearMove && d < nearMove {
		return 8
	}
	return 8 + o.far
}
