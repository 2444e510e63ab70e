package delta

import (
	"encoding/binary"
	"io"
	"math/bits"
	"slices"
)

// x86-64 displacement prediction (the idea of Courgette and Zucchini, in its
// simplest form). When code moves, every call/jmp rel32 and RIP-relative
// disp32 whose target moved by a different amount changes, and a plain
// byte difference pays for each one. Both sides know old and the ops, so
// both can predict the new displacement: for a field at old position j with
// value v, the target is t = j+4+v (exact for call/jmp, off by an immediate
// for a few RIP-relative forms, which does not matter because ops move whole
// regions); if an add op of the segment maps t by d(t), and the field itself
// moves by d(j), the predicted new value is v + d(t) - d(j). The difference
// stream then codes new - prediction, which is zero whenever the guess is
// right. Fields are found by opcode patterns in old alone; a false hit only
// changes a prediction.

const (
	mapMinAdd     = 16      // add ops shorter than this do not enter the map
	maxMapEntries = 1 << 20 // per segment: bounds Apply's memory
)

// relOps marks opcodes (after optional prefixes, REX or 0F) whose ModRM
// byte may select RIP-relative addressing (mod=00, rm=101).
var relOps = func() (t [256]bool) {
	for _, c := range []byte{
		0x01, 0x03, 0x09, 0x0B, 0x21, 0x23, 0x29, 0x2B, 0x31, 0x33, 0x39, 0x3B,
		0x63, 0x80, 0x81, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B,
		0x8D, 0xC6, 0xC7, 0xF6, 0xF7, 0xFF,
		// 0F xx forms: SSE moves and arithmetic, movzx/movsx, imul, cmov.
		0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x28, 0x2E, 0x2F, 0x51, 0x54,
		0x57, 0x58, 0x59, 0x5C, 0x5E, 0x6E, 0x6F, 0x7E, 0x7F, 0xAF, 0xB6,
		0xB7, 0xBE, 0xBF, 0xD4, 0xD6, 0xDB, 0xEB, 0xEF, 0xFA, 0xFB, 0xFE,
		0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A,
		0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
	} {
		t[c] = true
	}
	return
}()

// fieldAfter[b2<<8|b1] is 1 if a 32-bit displacement field follows the
// bytes b2, b1 (see docs/delta.md, Fields: code), else 0: a count, so that
// predict can gather the positions of fields without a branch.
var fieldAfter = func() *[1 << 16]uint8 {
	var t [1 << 16]uint8
	for b2 := range 256 {
		for b1 := range 256 {
			if b1 == 0xE8 || b1 == 0xE9 || b2 == 0x0F && b1&0xF0 == 0x80 || b1&0xC7 == 0x05 && relOps[b2] {
				t[b2<<8|b1] = 1
			}
		}
	}
	return &t
}()

// isX86_64ELF reports whether b starts like an x86-64 ELF file.
func isX86_64ELF(b []byte) bool {
	return len(b) >= 20 && string(b[:4]) == "\x7fELF" && b[4] == 2 && b[5] == 1 &&
		binary.LittleEndian.Uint16(b[18:]) == 0x3E
}

// A loadSeg is a PT_LOAD program header of old: file bytes
// [off, off+filesz) are mapped at vaddr, and memsz bytes are reserved there.
type loadSeg struct {
	off, vaddr, filesz, memsz int64
	exec                      bool
}

// Region kinds: how predict treats the bytes of old.
const (
	kindCode  = iota // x86-64 instructions: rel32 and disp32 fields
	kindData         // 8-byte aligned absolute addresses
	kindEhHdr        // .eh_frame_hdr search table: 4-byte addresses relative to its start
)

type region struct {
	start int64 // the region runs to the next region's start
	kind  int
}

// elfInfo is what predict knows of old's layout. A nil *elfInfo treats all
// of old as code and addresses as file offsets.
type elfInfo struct {
	segs          []loadSeg
	regions       []region // sorted, the first starts at 0
	ehOff, ehAddr int64    // PT_GNU_EH_FRAME, if ehOff >= 0
	disjoint      bool     // no address lies in two segments (fileOff)
}

// maxProgHeaders bounds the program headers read from old.
const maxProgHeaders = 64

// readELF reads the program headers of an x86-64 ELF old file. It returns
// nil when old is not one or its headers are out of range. Encoder and
// decoder both call it on old.
func readELF(old io.ReaderAt, oldSize int64) *elfInfo {
	var eh [64]byte
	if oldSize < 64 {
		return nil
	}
	if n, _ := old.ReadAt(eh[:], 0); n != len(eh) || !isX86_64ELF(eh[:]) {
		return nil
	}
	phoff := binary.LittleEndian.Uint64(eh[32:])
	phentsize := int64(binary.LittleEndian.Uint16(eh[54:]))
	phnum := int64(binary.LittleEndian.Uint16(eh[56:]))
	if phentsize < 56 || phnum > maxProgHeaders || phoff > uint64(oldSize) || int64(phoff)+phnum*phentsize > oldSize {
		return nil
	}
	e := &elfInfo{ehOff: -1}
	var ehSize int64
	ph := make([]byte, phentsize)
	for i := range phnum {
		if n, _ := old.ReadAt(ph, int64(phoff)+i*phentsize); int64(n) != phentsize {
			return nil
		}
		typ := binary.LittleEndian.Uint32(ph)
		off := int64(binary.LittleEndian.Uint64(ph[8:]) & (1<<40 - 1))
		addr := int64(binary.LittleEndian.Uint64(ph[16:]) & (1<<47 - 1))
		filesz := int64(binary.LittleEndian.Uint64(ph[32:]) & (1<<40 - 1))
		switch typ {
		case 1: // PT_LOAD
			e.segs = append(e.segs, loadSeg{
				off:    off,
				vaddr:  addr,
				filesz: filesz,
				memsz:  int64(binary.LittleEndian.Uint64(ph[40:]) & (1<<40 - 1)),
				exec:   binary.LittleEndian.Uint32(ph[4:])&1 != 0,
			})
		case 0x6474e550: // PT_GNU_EH_FRAME
			if e.ehOff < 0 && filesz >= 12 {
				e.ehOff, e.ehAddr, ehSize = off, addr, filesz
			}
		}
	}
	// Regions: the table of .eh_frame_hdr, else code in executable
	// segments, else data.
	cuts := []int64{0}
	for _, g := range e.segs {
		cuts = append(cuts, g.off, g.off+g.filesz)
	}
	if e.ehOff >= 0 {
		cuts = append(cuts, e.ehOff+12, e.ehOff+ehSize)
	}
	e.disjoint = disjointSegs(e.segs)
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for _, c := range cuts {
		k := kindData
		if e.ehOff >= 0 && c >= e.ehOff+12 && c < e.ehOff+ehSize {
			k = kindEhHdr
		} else {
			for _, g := range e.segs {
				if g.exec && c >= g.off && c-g.off < g.filesz {
					k = kindCode
					break
				}
			}
		}
		if n := len(e.regions); n == 0 || e.regions[n-1].kind != k {
			e.regions = append(e.regions, region{c, k})
		}
	}
	return e
}

// regionAt returns the kind of old position j and where that region ends.
func (e *elfInfo) regionAt(j int64) (kind int, end int64) {
	if e == nil {
		return kindCode, 1 << 62
	}
	i := len(e.regions) - 1
	for i > 0 && e.regions[i].start > j {
		i--
	}
	end = 1 << 62
	if i+1 < len(e.regions) {
		end = e.regions[i+1].start
	}
	return e.regions[i].kind, end
}

// vaddr returns the address old file offset off is loaded at (off itself
// outside every segment).
func (e *elfInfo) vaddr(off int64) int64 {
	if e != nil {
		for _, g := range e.segs {
			if off >= g.off && off-g.off < g.filesz {
				return off - g.off + g.vaddr
			}
		}
	}
	return off
}

// span is how many bytes of addresses g covers.
func (g *loadSeg) span() int64 { return max(g.memsz, g.filesz) }

// holds reports whether address va lies in g.
func (g *loadSeg) holds(va int64) bool { return va >= g.vaddr && va-g.vaddr < g.span() }

// offset is the file offset of address va in g (see elfInfo.fileOff).
func (g *loadSeg) offset(va int64) int64 { return g.off + min(va-g.vaddr, max(g.filesz-1, 0)) }

// disjointSegs reports whether no address lies in two of segs.
func disjointSegs(segs []loadSeg) bool {
	for i, a := range segs {
		for _, b := range segs[:i] {
			if a.vaddr < b.vaddr+b.span() && b.vaddr < a.vaddr+a.span() {
				return false
			}
		}
	}
	return true
}

// fileOff returns the old file offset that address va is loaded from;
// addresses past a segment's file bytes (.bss) map to its last file byte,
// which moves with them. Addresses outside every segment map to themselves.
// The first segment that holds va decides. It tries segment *hint first
// (when no address lies in two segments, so that it cannot be the wrong
// one), and leaves there the segment va is in: targets near each other
// are often in one segment.
func (e *elfInfo) fileOff(va int64, hint *int) int64 {
	if e == nil {
		return va
	}
	if h := *hint; e.disjoint && h < len(e.segs) {
		if g := &e.segs[h]; g.holds(va) {
			return g.offset(va)
		}
	}
	for i := range e.segs {
		if g := &e.segs[i]; g.holds(va) {
			*hint = i
			return g.offset(va)
		}
	}
	return va
}

type mapEntry struct {
	start, end int64 // old range of an add op
	d          int64 // new position - old position over the range
}

// relMap maps old positions to their move, from the add ops of a segment.
type relMap []mapEntry

// buildMap collects the add ops of ctrl (a segment's control stream, which
// starts at oldPos/newPos). Encoder and decoder both call it on the same
// bytes. It stops at the first entry Apply would reject.
func buildMap(ctrl []byte, oldPos, newPos, oldSize, newSize int64) relMap {
	var m relMap
	for len(ctrl) > 0 && len(m) < maxMapEntries {
		add, n1 := binary.Uvarint(ctrl)
		if n1 <= 0 {
			break
		}
		extra, n2 := binary.Uvarint(ctrl[n1:])
		if n2 <= 0 {
			break
		}
		seek, n3 := binary.Varint(ctrl[n1+n2:])
		if n3 <= 0 {
			break
		}
		ctrl = ctrl[n1+n2+n3:]
		if add > uint64(oldSize-oldPos) || add > uint64(newSize-newPos) || extra > uint64(newSize-newPos)-add {
			break
		}
		if add >= mapMinAdd {
			m = append(m, mapEntry{oldPos, oldPos + int64(add), newPos - oldPos})
		}
		oldPos += int64(add)
		newPos += int64(add + extra)
		if seek < -oldPos || seek > oldSize-oldPos {
			break
		}
		oldPos += seek
	}
	return m.disjoint()
}

// disjoint sorts the entries by start, stably, and makes the ranges
// disjoint: where ranges overlap, the one that starts first (then the
// earlier one) keeps the overlap.
func (m relMap) disjoint() relMap {
	// A stable sort, as a sort of the integers start<<b | index: pdqsort
	// of integers is much faster than slices.SortStableFunc, or a sort by
	// (start, index) through a function, on a browser's hundreds of
	// thousands. The starts fit the 64-b bits left: Apply's maps have at
	// most maxMapEntries (b = 21) and starts below maxFileSize (2^40);
	// Diff's global map at most one entry per 16 bytes of new (b <= 28) and
	// starts below maxDiffSize (2^31).
	b := uint(bits.Len(uint(len(m))))
	keys := make([]uint64, len(m))
	for i, e := range m {
		keys[i] = uint64(e.start)<<b | uint64(i)
	}
	slices.Sort(keys)
	sorted := make(relMap, len(m))
	for j, k := range keys {
		sorted[j] = m[k&(1<<b-1)]
	}
	out := m[:0]
	for _, e := range sorted {
		if n := len(out); n > 0 && e.start < out[n-1].end {
			if e.end <= out[n-1].end {
				continue
			}
			e.start = out[n-1].end
		}
		out = append(out, e)
	}
	return out
}

// globalMap is the encoder's whole-file map: the add ops of all of ops
// (from old and new position 0) as buildMap makes them, with neighbours
// that move by the same amount merged over the gap between them, the
// first maxMapEntries. Segments send it once (flagGlobal) so that fields
// can be predicted whose target lies outside their own segment's ops.
func globalMap(ops []op) relMap {
	var m relMap
	oldPos, newPos := 0, 0
	for _, o := range ops {
		if o.add >= mapMinAdd {
			m = append(m, mapEntry{int64(oldPos), int64(oldPos + o.add), int64(newPos - oldPos)})
		}
		oldPos += o.add + o.seek
		newPos += o.add + o.extra
	}
	return m.disjoint().merged()
}

// merged merges neighbours that move by the same amount over the gap
// between them and keeps the first maxMapEntries.
func (m relMap) merged() relMap {
	out := m[:0]
	for _, e := range m {
		if n := len(out); n > 0 && out[n-1].d == e.d {
			out[n-1].end = e.end
			continue
		}
		out = append(out, e)
	}
	return out[:min(len(out), maxMapEntries)]
}

// delta returns how far old position t moved, using the last entry that
// starts at or before t.
func (m relMap) delta(t int64) (int64, bool) {
	if i := m.find(t); i >= 0 {
		return m[i].d, true
	}
	return 0, false
}

// find returns the index of the entry containing t, or -1.
func (m relMap) find(t int64) int {
	lo, hi := 0, len(m)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m[mid].start <= t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 || t >= m[lo-1].end {
		return -1
	}
	return lo - 1
}

// scanBatch is how many positions predict scans for fields at a time (a
// power of two).
const scanBatch = 256

// maxField is the widest field predict rewrites.
const maxField = 8

// A predictor holds what both sides know to predict a segment's fields.
type predictor struct {
	base   relMap   // from the segment's add ops
	over   relMap   // overrides sent in the segment, consulted first
	global relMap   // the last global map sent, consulted last
	elf    *elfInfo // nil: all code, addresses are file offsets

	limit   int64        // old size: maps are page-indexed up to here
	indexed bool         // idx is built (clear it when a map changes)
	idx     [3]pageIndex // of over, base, global

	lastSeg int // the load segment of the last target (fileOff)

	at [scanBatch]int32 // predict's positions where a field may follow

	// hit, when set (encoder only), is called for every predicted field:
	// op position k, width w, target t, move used dt, predicted value.
	hit func(k, w int, t, dt int64, pred uint64)
}

// move returns how far old position t moved.
func (p *predictor) move(t int64) (int64, bool) {
	if !p.indexed {
		p.idx = [3]pageIndex{p.over.pages(p.limit), p.base.pages(p.limit), p.global.pages(p.limit)}
		p.indexed = true
	}
	if len(p.over) > 0 {
		if i := p.over.findPaged(p.idx[0], t); i >= 0 {
			return p.over[i].d, true
		}
	}
	if i := p.base.findPaged(p.idx[1], t); i >= 0 {
		return p.base[i].d, true
	}
	if len(p.global) > 0 {
		if i := p.global.findPaged(p.idx[2], t); i >= 0 {
			return p.global[i].d, true
		}
	}
	return 0, false
}

// predict rewrites the address fields of one add op in pred. The op has n
// bytes and starts at old position opOld, moving by dcur; e tells code from
// data and turns a field's target address into the old file offset whose
// move the map knows. pred holds op positions [c0, c1) (old bytes on
// entry); src holds the old bytes of op positions [sbase, min(c1+7, n))
// with sbase <= max(c0-2, 0). The scan resumes at next (0 on the first
// call). It returns where to resume and the end of the bytes it finished:
// c1, or less when a field would cross c1 (the caller then ends its chunk
// there; chunks of at least maxField bytes always make progress).
func (p *predictor) predict(pred []byte, c0, c1 int, src []byte, sbase int, n, next int, opOld, dcur int64) (int, int) {
	e := p.elf
	k := next
	for k < c1 {
		kind, rend := e.regionAt(opOld + int64(k))
		end := int(min(int64(c1), rend-opOld))
		// Each loop below scans the region up to end, past every field
		// it predicts.
		switch kind {
		case kindCode:
			// One region lies in one load segment: vaddr is a shift.
			k = max(k, 2)
			vd := e.vaddr(opOld+int64(k)) - (opOld + int64(k))
			// Fields start at k < end with k+4 <= n, and a predicted one
			// is not scanned inside (skip). The positions where one may
			// start are gathered first, scanBatch at a time, without a
			// branch: one taken a few times in a hundred bytes, at random,
			// mispredicted every time.
			lim, skip := min(end, n-3), k
			for k < lim {
				b := min(lim, k+scanBatch)
				win := src[k-2-sbase : b-sbase]
				cnt := 0
				for i := 2; i < len(win); i++ {
					p.at[cnt&(scanBatch-1)] = int32(i) // cnt <= i-2 < scanBatch
					cnt += int(fieldAfter[uint16(win[i-2])<<8|uint16(win[i-1])])
				}
				for _, i := range p.at[:cnt] {
					j := k - 2 + int(i)
					if j < skip {
						continue
					}
					v := int32(binary.LittleEndian.Uint32(src[j-sbase:]))
					t := e.fileOff(opOld+int64(j)+vd+4+int64(v), &p.lastSeg)
					if dt, ok := p.move(t); ok {
						if j+4 > c1 {
							return j, j
						}
						pv := uint32(v + int32(dt-dcur))
						binary.LittleEndian.PutUint32(pred[j-c0:], pv)
						if p.hit != nil {
							p.hit(j, 4, t, dt, uint64(pv))
						}
						skip = j + 4
					}
				}
				k = b
			}
			k = max(k, skip)
		case kindData:
			// 8-byte aligned positions.
			for k += int(-(opOld + int64(k)) & 7); k < end && k+8 <= n; k += 8 {
				v := int64(binary.LittleEndian.Uint64(src[k-sbase:]))
				if v <= 0 || v >= 1<<47 {
					continue
				}
				t := e.fileOff(v, &p.lastSeg)
				dt, ok := p.move(t)
				if !ok {
					continue
				}
				if k+8 > c1 {
					return k, k
				}
				binary.LittleEndian.PutUint64(pred[k-c0:], uint64(v+dt))
				if p.hit != nil {
					p.hit(k, 8, t, dt, uint64(v+dt))
				}
			}
		case kindEhHdr:
			// 4-byte entries from ehOff+12, relative to ehAddr.
			k += int(-(opOld + int64(k) - e.ehOff) & 3)
			dh, okh := p.move(e.ehOff)
			for ; okh && k < end && k+4 <= n; k += 4 {
				v := int32(binary.LittleEndian.Uint32(src[k-sbase:]))
				t := e.fileOff(e.ehAddr+int64(v), &p.lastSeg)
				dt, ok := p.move(t)
				if !ok {
					continue
				}
				if k+4 > c1 {
					return k, k
				}
				pv := uint32(v + int32(dt-dh))
				binary.LittleEndian.PutUint32(pred[k-c0:], pv)
				if p.hit != nil {
					p.hit(k, 4, t, dt, uint64(pv))
				}
			}
		}
		if k < end {
			k = end // no field fits before the op ends
		}
	}
	return k, c1
}
