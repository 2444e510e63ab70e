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
	ops := plan(old, new)
	return encode(old, new, ops)
}

// maxDiffSize keeps positions in int32 suffix arrays and uint32 block tables.
const maxDiffSize = 1<<31 - 1

// plan chooses the ops that turn old into new.
func plan(old, nw []byte) []op {
	switch {
	case len(nw) == 0:
		return nil
	case bytes.Equal(old, nw):
		return []op{{add: len(nw)}}
	case len(old) < blockSize:
		return []op{{extra: len(nw)}}
	}
	var m matcher
	if len(old) <= saMaxOld {
		m = &saMatcher{old: old, sa: suffixArray(old)}
	} else {
		m = newBlockMatcher(old)
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

// segment collects the raw streams of one segment.
type segment struct {
	s [numStreams][]byte
}

func (g *segment) size() int {
	n := 0
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
}

// encode writes the header and the segments for ops.
func encode(old, nw []byte, ops []op) ([]byte, error) {
	out := append([]byte(magic), version)
	out = binary.AppendUvarint(out, uint64(len(old)))
	out = binary.AppendUvarint(out, uint64(len(nw)))

	var segs []*segment
	g := new(segment)
	flush := func() {
		segs = append(segs, g)
		g = new(segment)
	}
	oldPos, newPos := 0, 0
	for _, o := range ops {
		// add, possibly over several segments.
		pendAdd := 0
		end := newPos + o.add
		for newPos < end {
			z := matchLen(old[oldPos:oldPos+end-newPos], nw[newPos:end])
			l := literalRun(old[oldPos+z:oldPos+end-newPos], nw[newPos+z:end])
			r := g.s[stRuns]
			r = binary.AppendUvarint(r, uint64(z))
			r = binary.AppendUvarint(r, uint64(l))
			g.s[stRuns] = r
			d := g.s[stDiff]
			for i := z; i < z+l; i++ {
				d = append(d, nw[newPos+i]-old[oldPos+i])
			}
			g.s[stDiff] = d
			newPos += z + l
			oldPos += z + l
			pendAdd += z + l
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

	// Compress every stream of every segment, two at a time.
	type job struct{ raw, comp []byte }
	jobs := make([]job, 0, len(segs)*numStreams)
	for _, g := range segs {
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
	for _, j := range jobs {
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
