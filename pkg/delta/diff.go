package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
)

// saMaxOld is the largest old file matched through a suffix array (exact
// longest matches, about 5 bytes of memory per old byte and ~100 ns per
// byte to build). Larger files use block pre-matching, which is fast and
// small for the near-identical rebuilds that dominate large libraries.
const saMaxOld = 48 << 20

// parallelMin is the new size from which Diff scans two halves of new
// concurrently. The split is fixed by the input, not by the core count, so
// the patch is the same on any machine.
const parallelMin = 1 << 20

// Diff returns a patch that turns old into new. It is deterministic: the same
// inputs give the same bytes on any core count. It may use two cores.
func Diff(old, new []byte) ([]byte, error) {
	if len(old) > maxDiffSize || len(new) > maxDiffSize {
		return nil, fmt.Errorf("diffing %d against %d bytes: larger than %d bytes", len(new), len(old), maxDiffSize)
	}
	ops := plan(old, new, len(old) > saMaxOld)
	return encode(old, new, ops)
}

// maxDiffSize keeps positions in int32 suffix arrays and uint32 block tables.
const maxDiffSize = 1<<31 - 1

// plan chooses the ops that turn old into new, matching through a block
// index if blocks, else through a suffix array.
func plan(old, nw []byte, blocks bool) []op {
	switch {
	case len(nw) == 0:
		return nil
	case bytes.Equal(old, nw):
		return []op{{add: len(nw)}}
	case len(old) < blockSize:
		return []op{{extra: len(nw)}}
	}
	var m matcher
	switch {
	case blocks && nearlyInPlace(old, nw):
		m = diagonal(old)
	case blocks:
		m = newBlockMatcher(old)
	default:
		m = newSAMatcher(old)
	}
	if len(nw) < parallelMin {
		ops, _ := scan(m, old, nw, 0, len(nw), 0)
		return normalize(ops)
	}
	mid := len(nw) / 2
	var ops2 []op
	var wg sync.WaitGroup
	wg.Add(1)
	start2 := min(mid, len(old))
	go func() {
		defer wg.Done()
		ops2, _ = scan(m, old, nw, mid, len(nw), start2)
	}()
	ops1, end1 := scan(m, old, nw, 0, mid, 0)
	wg.Wait()
	ops1[len(ops1)-1].seek = start2 - end1
	return normalize(append(ops1, ops2...))
}

// maxInPlaceDiff is the most bytes that may differ at the same offsets for
// Diff to match a large file only at the same offsets: a rebuild that
// changed a build id and a few constants needs no index of old. Small files
// always get the suffix array: there a few KiB that differ in place can be a
// shift that real matching codes in a quarter of the bytes (legacy.so).
const maxInPlaceDiff = 1 << 10

// nearlyInPlace reports whether old and nw differ in at most
// maxInPlaceDiff bytes at the same offsets (lengths included).
func nearlyInPlace(old, nw []byte) bool {
	n := min(len(old), len(nw))
	diff := max(len(old), len(nw)) - n
	if diff > maxInPlaceDiff {
		return false
	}
	const chunk = 1 << 20
	for i := 0; i < n; i += chunk {
		e := min(i+chunk, n)
		diff += e - i - countEqual(old[i:e], nw[i:e])
		if diff > maxInPlaceDiff {
			return false
		}
	}
	return true
}

// diagonalMatcher matches b at the same offset of old.
type diagonalMatcher struct{ old []byte }

func diagonal(old []byte) diagonalMatcher { return diagonalMatcher{old} }

func (m diagonalMatcher) search(b []byte, at int) (int, int) {
	if at >= len(m.old) {
		return 0, 0
	}
	return at, matchLen(m.old[at:], b)
}

// normalize merges ops without an add into the previous op: their literal
// bytes do not depend on the old position, so the seeks simply add up.
func normalize(ops []op) []op {
	out := ops[:0]
	for _, o := range ops {
		if n := len(out); n > 0 && o.add == 0 {
			out[n-1].extra += o.extra
			out[n-1].seek += o.seek
			continue
		}
		out = append(out, o)
	}
	if n := len(out); n > 0 {
		out[n-1].seek = 0
	}
	return out
}

// segment collects the raw streams of one segment and the ops they code.
type segment struct {
	s              [numStreams][]byte
	over           []byte // x86 override entries, if any
	flags          byte
	oldPos, newPos int  // positions at the start of the segment
	ops            []op // as split into the segment
}

func (g *segment) size() int {
	n := len(g.over)
	for _, b := range g.s {
		n += len(b)
	}
	return n
}

func (g *segment) ctrl(add, extra, seek int) {
	c := g.s[stCtrl]
	c = binary.AppendUvarint(c, uint64(add))
	c = binary.AppendUvarint(c, uint64(extra))
	c = binary.AppendVarint(c, int64(seek))
	g.s[stCtrl] = c
	g.ops = append(g.ops, op{add, extra, seek})
}

// run appends one (zeros, literals) pair for the start of base/nw and
// returns its length: the zeros where nw equals base, then a literal run.
func (g *segment) run(base, nw []byte) int {
	z := matchLen(base, nw)
	l := literalRun(base[z:], nw[z:])
	r := g.s[stRuns]
	r = binary.AppendUvarint(r, uint64(z))
	r = binary.AppendUvarint(r, uint64(l))
	g.s[stRuns] = r
	d := g.s[stDiff]
	for i := z; i < z+l; i++ {
		d = append(d, nw[i]-base[i])
	}
	g.s[stDiff] = d
	return z + l
}

// x86 recodes the runs of g against x86 displacement predictions, with
// override entries when they pay. It reports whether that made the runs and
// differences smaller.
func (g *segment) x86(old, nw []byte, elf *elfInfo) bool {
	m := buildMap(g.s[stCtrl], int64(g.oldPos), int64(g.newPos), int64(len(old)), int64(len(nw)))
	if len(m) == 0 {
		return false
	}
	p := &predictor{base: m, elf: elf}
	var votes []vote
	var newPos int
	p.hit = func(k, w int, t, dt int64, pred uint64) {
		var miss int64
		if w == 4 {
			miss = int64(int32(binary.LittleEndian.Uint32(nw[newPos+k:]) - uint32(pred)))
		} else {
			miss = int64(binary.LittleEndian.Uint64(nw[newPos+k:]) - pred)
		}
		votes = append(votes, vote{t, dt + miss})
	}
	recode := func() *segment {
		var h segment
		var pred []byte
		oldPos := g.oldPos
		newPos = g.newPos
		for _, o := range g.ops {
			src := old[oldPos : oldPos+o.add]
			pred = append(pred[:0], src...)
			p.predict(pred, 0, o.add, src, 0, o.add, 0, int64(oldPos), int64(newPos-oldPos))
			for i := 0; i < o.add; {
				i += h.run(pred[i:], nw[newPos+i:newPos+o.add])
			}
			oldPos += o.add + o.seek
			newPos += o.add + o.extra
		}
		return &h
	}
	cost := func(h *segment) int { return len(h.s[stRuns]) + len(h.s[stDiff]) + len(h.over) }
	best := recode()
	p.hit = nil
	if over := overrides(votes, m); len(over) > 0 {
		p.over = over
		h := recode()
		h.over = appendOverrides(nil, over)
		if cost(h) < cost(best) {
			best = h
		}
	}
	before := len(g.s[stRuns]) + len(g.s[stDiff])
	if cost(best) >= before || g.size()-before+cost(best) > maxSegmentRaw {
		return false
	}
	g.s[stRuns], g.s[stDiff], g.over = best.s[stRuns], best.s[stDiff], best.over
	g.flags |= flagX86
	if len(g.over) > 0 {
		g.flags |= flagOverrides
	}
	return true
}

// encode writes the header and the segments for ops.
func encode(old, nw []byte, ops []op) ([]byte, error) {
	out := append([]byte(magic), version)
	out = binary.AppendUvarint(out, uint64(len(old)))
	out = binary.AppendUvarint(out, uint64(len(nw)))

	var segs []*segment
	oldPos, newPos := 0, 0
	g := new(segment)
	flush := func() {
		segs = append(segs, g)
		g = &segment{oldPos: oldPos, newPos: newPos}
	}
	for _, o := range ops {
		// add, possibly over several segments.
		pendAdd := 0
		end := newPos + o.add
		for newPos < end {
			n := g.run(old[oldPos:oldPos+end-newPos], nw[newPos:end])
			newPos += n
			oldPos += n
			pendAdd += n
			if newPos < end && g.size() >= segmentTarget {
				g.ctrl(pendAdd, 0, 0)
				pendAdd = 0
				flush()
			}
		}
		// extra, possibly over several segments.
		pendExtra := 0
		end = newPos + o.extra
		for newPos < end {
			n := min(end-newPos, chunkMax)
			g.s[stExtra] = append(g.s[stExtra], nw[newPos:newPos+n]...)
			newPos += n
			pendExtra += n
			if newPos < end && g.size() >= segmentTarget {
				g.ctrl(pendAdd, pendExtra, 0)
				pendAdd, pendExtra = 0, 0
				flush()
			}
		}
		g.ctrl(pendAdd, pendExtra, o.seek)
		oldPos += o.seek
		if g.size() >= segmentTarget {
			flush()
		}
	}
	if newPos != len(nw) {
		return nil, fmt.Errorf("internal error: ops cover %d of %d bytes", newPos, len(nw))
	}
	if g.size() > 0 {
		flush()
	}

	// Executable code: predict moved displacements where differences are
	// many enough for it to matter.
	if isX86_64ELF(old) {
		elf := readELF(bytes.NewReader(old), int64(len(old)))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for _, g := range segs {
			if len(g.s[stDiff]) >= x86MinDiff {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					g.x86(old, nw, elf)
					<-sem
				}()
			}
		}
		wg.Wait()
	}

	// Compress every stream of every segment, two at a time.
	type job struct{ raw, comp []byte }
	const perSeg = numStreams + 1 // overrides, then the streams
	jobs := make([]job, 0, len(segs)*perSeg)
	for _, g := range segs {
		jobs = append(jobs, job{raw: g.over})
		for _, b := range g.s {
			jobs = append(jobs, job{raw: b})
		}
	}
	e, err := encoder()
	if err != nil {
		return nil, fmt.Errorf("creating zstd encoder: %w", err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i := range jobs {
		if len(jobs[i].raw) < 16 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(j *job) {
			defer wg.Done()
			j.comp = e.EncodeAll(j.raw, nil)
			<-sem
		}(&jobs[i])
	}
	wg.Wait()
	for i, j := range jobs {
		g := segs[i/perSeg]
		if i%perSeg == 0 {
			out = append(out, g.flags)
			if g.flags&flagOverrides == 0 {
				continue
			}
		}
		if j.comp != nil && len(j.comp) < len(j.raw) {
			out = binary.AppendUvarint(out, uint64(len(j.raw))<<1|1)
			out = binary.AppendUvarint(out, uint64(len(j.comp)))
			out = append(out, j.comp...)
		} else {
			out = binary.AppendUvarint(out, uint64(len(j.raw))<<1)
			out = append(out, j.raw...)
		}
	}
	return out, nil
}

// literalRun returns the length of the literal run at the start of old/nw:
// it ends before the first run of at least minZeroGap equal bytes, at the
// end, or at chunkMax.
func literalRun(old, nw []byte) int {
	n := min(len(nw), chunkMax)
	i := 0
	for i < n {
		if old[i] != nw[i] {
			i++
			continue
		}
		z := matchLen(old[i:n], nw[i:n])
		if z >= minZeroGap || i+z == len(nw) {
			return i
		}
		i += z
	}
	return n
}
