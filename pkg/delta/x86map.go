package delta

// The map machinery of the x86-64 prediction (x86.go): a page index for fast
// lookups, the override entries the encoder sends where the ops align a region
// the wrong way for references, and the normalized copy the matcher searches.

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/patchkit/patchkit/internal/hugemem"
)

// A pageIndex speeds up lookups in a relMap: first[p] is the first entry
// whose end is past page p's start, for pages of 1<<shift bytes, with
// emptyPage set when that entry starts past the page's end too: no entry
// touches the page (most pages of a map of overrides).
type pageIndex struct {
	first []uint32
	shift uint
}

const emptyPage = 1 << 31 // above maxMapEntries

// Pages are 256 bytes, or larger so that there are at most 2^17 of them
// (512 KiB of index, which stays in cache: on Chromium's 280 MB a 4 MiB
// index of 256-byte pages made apply slower, where on the libraries these
// pages are 6-9 % faster than 4 KiB ones).
const (
	minPageShift = 8
	maxPages     = 1 << 17
)

// pages indexes m up to min(limit, its last end); none without limit.
func (m relMap) pages(limit int64) pageIndex {
	if len(m) == 0 || limit <= 0 {
		return pageIndex{}
	}
	last := min(limit, m[len(m)-1].end)
	shift := uint(max(minPageShift, bits.Len64(uint64(last))-bits.Len(maxPages-1)))
	np := int(last>>shift) + 1
	first := make([]uint32, np+1)
	i := 0
	for p := range first {
		start := int64(p) << shift
		for i < len(m) && m[i].end <= start {
			i++
		}
		first[p] = uint32(i)
		if i == len(m) || m[i].start >= start+1<<shift {
			first[p] |= emptyPage
		}
	}
	return pageIndex{first, shift}
}

// findPaged is find through idx (m sorted and disjoint, as every map is).
func (m relMap) findPaged(idx pageIndex, t int64) int {
	p := t >> idx.shift
	if t < 0 || p+1 >= int64(len(idx.first)) {
		// Past the pages: most such targets are data that is no
		// address, past every entry.
		if len(m) == 0 || t >= m[len(m)-1].end {
			return -1
		}
		return m.find(t)
	}
	// The entry holding t ends past the page's start, and is at most the
	// first entry ending past the next page's start.
	f := idx.first[p]
	if f&emptyPage != 0 {
		return -1
	}
	lo, hi := int(f), min(int(idx.first[p+1]&^emptyPage)+1, len(m))
	if lo < hi && t < m[lo].end {
		hi = lo // the page's first entry: mostly it holds t
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m[mid].end > t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo < len(m) && m[lo].start <= t && t < m[lo].end {
		return lo
	}
	return -1
}

// Overrides. Where the ops align a region the wrong way for references (a
// table of look-alike entries such as .plt, where the alignment that
// matches the most bytes is not the one that follows each symbol), the
// encoder sends map entries that take precedence for targets: it collects,
// for every predicted field, the move that would have predicted it right,
// and sends each run of targets that agree on one move other than the
// map's, if it fixes at least minVotes fields.

const minVotes = 3

type vote struct {
	t, d int64
}

// overrides turns votes into disjoint override entries.
func overrides(votes []vote, base relMap) relMap {
	slices.SortStableFunc(votes, func(a, b vote) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	var out relMap
	for i := 0; i < len(votes); {
		j := i + 1
		for j < len(votes) && votes[j].d == votes[i].d {
			j++
		}
		fixes := 0 // fields the entry would predict right that the map does not
		for _, v := range votes[i:j] {
			if d, ok := base.delta(v.t); !ok || d != v.d {
				fixes++
			}
		}
		if fixes >= minVotes && len(out) < maxMapEntries {
			e := mapEntry{votes[i].t, votes[j-1].t + 1, votes[i].d}
			if n := len(out); n > 0 && e.start < out[n-1].end {
				e.start = out[n-1].end
			}
			if e.start < e.end {
				out = append(out, e)
			}
		}
		i = j
	}
	return out
}

// appendOverrides encodes override entries: per entry, uvarint gap from the
// previous end, uvarint length, varint move (with relative, the move's
// difference from the previous entry's move, as global maps are sent).
func appendOverrides(b []byte, over relMap, relative bool) []byte {
	prev, prevD := int64(0), int64(0)
	for _, e := range over {
		b = binary.AppendUvarint(b, uint64(e.start-prev))
		b = binary.AppendUvarint(b, uint64(e.end-e.start))
		if relative {
			b = binary.AppendVarint(b, e.d-prevD)
			prevD = e.d
		} else {
			b = binary.AppendVarint(b, e.d)
		}
		prev = e.end
	}
	return b
}

// parseOverrides decodes override or (relative) global map entries, or
// reports false.
func parseOverrides(b []byte, relative bool) (relMap, bool) {
	var over relMap
	prev, prevD := int64(0), int64(0)
	for len(b) > 0 {
		gap, n1 := binary.Uvarint(b)
		if n1 <= 0 {
			return nil, false
		}
		length, n2 := binary.Uvarint(b[n1:])
		if n2 <= 0 {
			return nil, false
		}
		d, n3 := binary.Varint(b[n1+n2:])
		if n3 <= 0 {
			return nil, false
		}
		b = b[n1+n2+n3:]
		const limit = 1 << 62
		if len(over) >= maxMapEntries || length == 0 || gap > uint64(limit-prev) {
			return nil, false
		}
		start := prev + int64(gap)
		if length > uint64(limit-start) {
			return nil, false
		}
		if relative {
			d += prevD // wraps: a move is only ever added to a value
			prevD = d
		}
		end := start + int64(length)
		over = append(over, mapEntry{start, end, d})
		prev = end
	}
	return over, true
}

// normalized returns a copy of b (an x86-64 ELF file, laid out by e) with
// every field predict could rewrite set to zero: rel32 and disp32 fields
// in code, addresses in data, the .eh_frame_hdr table. Code that moved, and
// whose calls and references therefore all changed, matches its old copy
// exactly once both are normalized, so the matcher finds it as one long
// match instead of many short ones; the encoder then codes the original
// bytes against predictions, which get the fields right. The copy has room
// for one more (zero) byte, the padding evenSuffixArray needs.
func normalized(b []byte, e *elfInfo) []byte {
	out := hugemem.Make[byte](len(b) + 1)[:len(b)]
	normalizeInto(out, b, e, 0)
	return out
}

// normalizeInto sets dst to b[from:from+len(dst)] normalized as normalized
// does, with the fields that cross the ends of the window left as they
// are: the same window gives the same bytes whichever core normalizes it.
func normalizeInto(dst, b []byte, e *elfInfo, from int) {
	copy(dst, b[from:])
	inLoad := func(v int64) bool {
		for _, g := range e.segs {
			if v >= g.vaddr && v-g.vaddr < max(g.memsz, g.filesz) {
				return true
			}
		}
		return false
	}
	lo, n := int64(from), int64(from+len(dst))
	for k := lo; k < n; {
		kind, end := e.regionAt(k)
		end = min(end, n)
		switch kind {
		case kindCode:
			for k = max(k, 2); k+4 <= end; k++ {
				if fieldAfter[uint16(b[k-2])<<8|uint16(b[k-1])] == 0 {
					continue
				}
				clear(dst[k-lo : k-lo+4])
				k += 3
			}
		case kindData:
			for k += -k & 7; k+8 <= end; k += 8 {
				v := int64(binary.LittleEndian.Uint64(b[k:]))
				if v > 0 && v < 1<<47 && inLoad(v) {
					clear(dst[k-lo : k-lo+8])
				}
			}
		case kindEhHdr:
			for k += -(k - e.ehOff) & 3; k+4 <= end; k += 4 {
				clear(dst[k-lo : k-lo+4])
			}
		}
		k = end
	}
}
