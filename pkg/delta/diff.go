package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/patchkit/patchkit/internal/hugemem"
)

// Old files are matched through a suffix array (SA-IS: exact longest
// matches, 4 bytes per old byte, ~50 ns per byte to build on a library).
// Above saMaxOld the array holds only the even positions (2 bytes per old
// byte, sorted as 16-bit symbols: 20 s on two cores for a 280 MB browser),
// the scan searches sparsely, new is scanned in windows, and x86-64 code is
// matched with its displacements set aside (planLarge); above saMaxAll, a
// block index (HDiffPatch-style, 16 bytes of table per 32-byte block) keeps
// the memory small. Large files that differ in place in only a few bytes
// (the rebuilds of 90 MB libraries) are matched along the diagonal.
const (
	saMaxOld = 48 << 20
	saMaxAll = 1 << 30

	largeSearchMax = 4 << 10 // longest match one search finds above saMaxOld
)

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
	if len(old) <= zstdEarlyMax {
		zstdEarly()
	}
	ops := plan(old, new, len(old) > saMaxAll)
	// The suffix array and the normalized copy (a gigabyte for a browser)
	// are garbage now: free them before encoding allocates.
	collect(old)
	return encode(old, new, ops)
}

// collect runs the garbage collector between the phases of diffing a large
// old file. Its pacing lets garbage grow to the size of the live heap
// before a collection, which for a browser is a gigabyte more than the
// memory the diff needs (docs/benchmarks.md); collecting at the end of
// each phase that leaves much garbage keeps the peak near the live heap.
// The heap is nearly all byte and int32 slices, so a collection takes
// milliseconds.
func collect(old []byte) {
	if len(old) > saMaxOld {
		runtime.GC()
	}
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
	case len(old) > saMaxOld && nearlyInPlace(old, nw):
		m = diagonal(old)
	case blocks:
		m = newBlockMatcher(old)
	case len(old) > saMaxOld:
		return planLarge(old, nw, largeWindow)
	default:
		m = newSAMatcher(old)
	}
	if len(nw) < parallelMin {
		ops, _ := scan(m, old, nw, 0, len(nw), 0, denseScan)
		return normalize(ops)
	}
	mid := len(nw) / 2
	var ops2 []op
	var wg sync.WaitGroup
	wg.Add(1)
	start2 := min(mid, len(old))
	go func() {
		defer wg.Done()
		ops2, _ = scan(m, old, nw, mid, len(nw), start2, denseScan)
	}()
	ops1, end1 := scan(m, old, nw, 0, mid, 0, denseScan)
	wg.Wait()
	return join([]part{{ops: ops1, to: end1}, {ops: ops2, from: start2}})
}

// part is the ops a scan found for a piece of new: from is the old
// position it assumed at its start, to the one its ops end at.
type part struct {
	ops      []op
	from, to int
}

// join returns the ops of parts one after another, each part's last op
// seeking to where the next part assumed it starts, normalized.
func join(parts []part) []op {
	n := 0
	for _, p := range parts {
		n += len(p.ops)
	}
	ops := make([]op, 0, n)
	for i, p := range parts {
		if i > 0 {
			ops[len(ops)-1].seek = p.from - parts[i-1].to
		}
		ops = append(ops, p.ops...)
	}
	return normalize(ops)
}

// largeWindow is the piece of new that planLarge scans at a time, fixed so
// that the patch does not depend on the core count.
const largeWindow = 16 << 20

// planLarge matches a large old file through the suffix array of its even
// positions, searching sparsely (largeScan). Large x86-64 code is matched
// with its displacements and addresses set aside (normalized); the ops then
// apply to the real bytes. (On libraries this costs more than it finds:
// exact displacements tell look-alike code apart.) New is scanned in
// windows of window bytes, two at a time, each normalized into a
// buffer of its worker: the memory is old, its copy and its suffix array
// (5 bytes per old byte) and two windows, whatever the size of new.
func planLarge(old, nw []byte, window int) []op {
	var en *elfInfo
	if isX86_64ELF(old) && isX86_64ELF(nw) {
		eo := readELF(bytes.NewReader(old), int64(len(old)))
		en = readELF(bytes.NewReader(nw), int64(len(nw)))
		if eo != nil && en != nil {
			old = normalized(old, eo)
		} else {
			en = nil
		}
	}
	if en == nil {
		// evenSuffixArray reads its text as pairs in place: give it a
		// copy, padded, rather than the caller's bytes.
		old = append(hugemem.Make[byte](len(old) + 1)[:0], old...)
	}
	m := newEvenSAMatcher(old)
	// Long repeats (relocation tables, once normalized) would make every
	// search compare megabytes.
	m.limit = largeSearchMax
	collect(old) // the sort's work arrays, before the windows

	nwin := (len(nw) + window - 1) / window
	res := make([]part, nwin)
	var next atomic.Int32
	var wg sync.WaitGroup
	for range min(2, nwin) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			if en != nil {
				buf = hugemem.Make[byte](window)
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= nwin {
					return
				}
				lo, hi := i*window, min(len(nw), (i+1)*window)
				win := nw[lo:hi]
				if en != nil {
					win = buf[:hi-lo]
					normalizeInto(win, nw, en, lo)
				}
				r := &res[i]
				r.from = min(lo, len(old))
				r.ops, r.to = scan(m, old, win, 0, len(win), r.from, largeScan)
			}
		}()
	}
	wg.Wait()
	return join(res)
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
	glob           []byte // the global x86 map, in the segment that sends it
	flags          byte
	oldPos, newPos int  // positions at the start of the segment
	ops            []op // as split into the segment
}

func (g *segment) size() int {
	n := len(g.over) + len(g.glob)
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
//
// With used set, it only marks the global map entries that predicted a
// field exactly where the segment's own map did not, and changes nothing.
func (g *segment) x86(old, nw []byte, elf *elfInfo, global relMap, used []bool) bool {
	m := buildMap(g.s[stCtrl], int64(g.oldPos), int64(g.newPos), int64(len(old)), int64(len(nw)))
	if len(m) == 0 && len(global) == 0 {
		return false
	}
	p := &predictor{base: m, elf: elf, global: global, limit: int64(len(old))}
	var votes []vote
	if used == nil {
		// Room for a field in every 16 bytes of the ops: libraries
		// have one in every 19-25, and growing by appends cost
		// libcrypto 3 % of its diff in copies.
		adds := 0
		for _, o := range g.ops {
			adds += o.add
		}
		votes = make([]vote, 0, adds/16)
	}
	var newPos int
	p.hit = func(k, w int, t, dt int64, pred uint64) {
		var miss int64
		if w == 4 {
			miss = int64(int32(binary.LittleEndian.Uint32(nw[newPos+k:]) - uint32(pred)))
		} else {
			miss = int64(binary.LittleEndian.Uint64(nw[newPos+k:]) - pred)
		}
		if used != nil {
			if _, local := m.delta(t); miss == 0 && !local {
				if i := global.find(t); i >= 0 {
					used[i] = true
				}
			}
			return
		}
		votes = append(votes, vote{t, dt + miss})
	}
	recode := func() *segment {
		var h segment
		// Room for as many bytes as the segment had: recoding many
		// megabytes by appends would leave copies of each as garbage.
		h.s[stRuns] = make([]byte, 0, len(g.s[stRuns]))
		h.s[stDiff] = make([]byte, 0, len(g.s[stDiff]))
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
	if used != nil {
		return false
	}
	p.hit = nil
	if over := overrides(votes, m); len(over) > 0 {
		p.over, p.indexed = over, false
		h := recode()
		h.over = appendOverrides(nil, over, false)
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
	return encodeSegments(old, nw, ops, segmentTarget, lzmaMinStream, lzmaSmall)
}

// encodeSegments is encode with segments of about target raw bytes, coding
// streams of lzmaMin bytes or more with LZMA, and those of lzmaTiny or more
// too when the ones under lzmaMin come to less than small bytes
// (lzmaMinStream and lzmaSmall in patches; tests choose their own).
func encodeSegments(old, nw []byte, ops []op, target, lzmaMin, small int) ([]byte, error) {
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
			if newPos < end && g.size() >= target {
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
			if newPos < end && g.size() >= target {
				g.ctrl(pendAdd, pendExtra, 0)
				pendAdd, pendExtra = 0, 0
				flush()
			}
		}
		g.ctrl(pendAdd, pendExtra, o.seek)
		oldPos += o.seek
		if g.size() >= target {
			flush()
		}
	}
	if newPos != len(nw) {
		return nil, fmt.Errorf("internal error: ops cover %d of %d bytes", newPos, len(nw))
	}
	if g.size() > 0 {
		flush()
	}

	// New code in the extra bytes: its fields as targets.
	if isX86_64ELF(nw) && len(nw) <= maxTargetsFile {
		for _, g := range segs {
			g.targets(nw)
		}
	}

	// Executable code: predict moved displacements where differences are
	// many enough for it to matter.
	collect(old)
	if isX86_64ELF(old) {
		elf := readELF(bytes.NewReader(old), int64(len(old)))
		// With several segments, send the whole file's map once, in the
		// first: a segment's own ops cover a small part of the targets.
		x86 := func(global relMap, used [][]bool) {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 2)
			for i, g := range segs {
				if len(g.s[stDiff]) >= x86MinDiff {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						var u []bool
						if used != nil {
							u = make([]bool, len(global))
							used[i] = u
						}
						g.x86(old, nw, elf, global, u)
						collect(old) // its recodings; the last one to end also ends the phase
						<-sem
					}()
				}
			}
			wg.Wait()
		}
		// With several segments, send the whole file's map once, in the
		// first: a segment's own ops cover a small part of the targets.
		// Only the entries that predict a field no segment's own map does
		// are worth their bytes: a dry run finds them.
		var global relMap
		if len(segs) > 1 {
			global = globalMap(ops)
			used := make([][]bool, len(segs))
			x86(global, used)
			keep := global[:0]
			for j, e := range global {
				for _, u := range used {
					if u != nil && u[j] {
						keep = append(keep, e)
						break
					}
				}
			}
			global = keep.merged()
			gb := appendOverrides(nil, global, true)
			if len(global) > 0 && segs[0].size()+len(gb) <= maxSegmentRaw {
				segs[0].glob = gb
				segs[0].flags |= flagGlobal
			} else {
				global = nil
			}
		}
		x86(global, nil)
	}

	// Compress every stream of every segment, two at a time, the largest
	// first: LZMA for streams of lzmaMin bytes or more (slower, and 10-17 %
	// smaller on browser-size streams), else zstd; but LZMA for those of
	// lzmaTiny bytes or more too when they come to less than small bytes
	// in all (see lzmaSmall).
	type job struct {
		raw, comp []byte
		coder     byte
		props     lzmaProps
	}
	// compressed reports whether j is written compressed (else raw).
	compressed := func(j *job) bool { return j.comp != nil && len(j.comp) < len(j.raw) }
	const perSeg = numStreams + 2 // overrides, global map, then the streams
	jobs := make([]job, 0, len(segs)*perSeg)
	for _, g := range segs {
		jobs = append(jobs, job{raw: g.over}, job{raw: g.glob})
		for k, b := range g.s {
			jobs = append(jobs, job{raw: b, props: streamProps[k]})
		}
	}
	order := make([]*job, 0, len(jobs))
	for i := range jobs {
		if len(jobs[i].raw) >= 16 {
			order = append(order, &jobs[i])
		}
	}
	slices.SortStableFunc(order, func(a, b *job) int { return len(b.raw) - len(a.raw) })
	under := 0
	for _, j := range order {
		if len(j.raw) < lzmaMin {
			under += len(j.raw)
		}
	}
	useLZMA := func(j *job) bool {
		return len(j.raw) >= lzmaMin || under < small && len(j.raw) >= lzmaTiny
	}
	// The zstd encoder only if a stream needs it: its tables are 35 MB.
	var e *zstd.Encoder
	if slices.ContainsFunc(order, func(j *job) bool { return !useLZMA(j) }) {
		var err error
		if e, err = encoder(); err != nil {
			return nil, fmt.Errorf("creating zstd encoder: %w", err)
		}
	}
	// Two workers, each with its LZMA tree: the largest streams come
	// first, so each tree is allocated once.
	var wg sync.WaitGroup
	work := make(chan *lzmaWork, 2)
	work <- new(lzmaWork)
	work <- new(lzmaWork)
	for _, j := range order {
		wg.Add(1)
		w := <-work
		go func() {
			defer wg.Done()
			if useLZMA(j) {
				j.comp, j.coder = w.compress(j.raw, j.props), coderLZMA
			} else {
				j.comp = e.EncodeAll(j.raw, nil)
			}
			work <- w
		}()
	}
	wg.Wait()
	for i := range jobs {
		if jobs[i].coder != coderZstd && compressed(&jobs[i]) {
			segs[i/perSeg].flags |= flagCoders
		}
	}
	// Room for the whole patch, so that it does not grow by copies.
	size := len(out)
	for i := range jobs {
		size += 2*binary.MaxVarintLen64 + 2 + len(jobs[i].raw)
		if compressed(&jobs[i]) {
			size += len(jobs[i].comp) - len(jobs[i].raw)
		}
	}
	out = slices.Grow(out, size-len(out))
	for i, j := range jobs {
		g := segs[i/perSeg]
		switch i % perSeg {
		case 0:
			out = append(out, g.flags)
			if g.flags&flagOverrides == 0 {
				continue
			}
		case 1:
			if g.flags&flagGlobal == 0 {
				continue
			}
		}
		if compressed(&j) {
			out = binary.AppendUvarint(out, uint64(len(j.raw))<<1|1)
			if g.flags&flagCoders != 0 {
				out = append(out, j.coder)
			}
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
