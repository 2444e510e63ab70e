package delta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"github.com/patchkit/patchkit/internal/hugemem"
)

// ErrCorrupt is wrapped by every error Apply returns for a patch that is
// malformed, truncated, or does not fit the sizes the caller expects.
var ErrCorrupt = errors.New("corrupt delta patch")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ioBufSize is the size of the buffers Apply reads old through and writes
// new through; minFill is the least it reads from old at a time.
const (
	ioBufSize = 256 << 10
	minFill   = 4 << 10
)

// mapMin is the least old size Apply maps into memory (mapOld) instead of
// reading it through a window.
const mapMin = 1 << 20

// Apply writes the result of applying patch to old into w. newSize is the
// target size the caller expects: Apply fails if the patch would produce more
// or fewer bytes, is malformed or truncated, or reads old out of range. It
// holds at most two segments of the patch (64 MiB of streams each: the one
// whose ops run, and the next, read and decoded meanwhile on another
// goroutine) and a small buffer in memory, whatever the file sizes. An old that is a file of 1 MiB
// or more (an *os.File, on Unix) is mapped read-only instead of read
// through the buffer: its pages then count in the process's resident size,
// but they are the page cache's, shared and dropped as the system needs.
func Apply(w io.Writer, old io.ReaderAt, oldSize int64, patch io.Reader, newSize int64) error {
	return applyWith(w, old, oldSize, patch, newSize, nil)
}

// applyWith is Apply, calling seen (if not nil) with every stream it reads.
func applyWith(w io.Writer, old io.ReaderAt, oldSize int64, patch io.Reader, newSize int64, seen func(kind int, stored uint64, raw []byte)) (err error) {
	if oldSize < 0 || newSize < 0 || oldSize > maxFileSize || newSize > maxFileSize {
		return fmt.Errorf("applying delta: sizes %d, %d out of range", oldSize, newSize)
	}
	a := applier{
		w:       w,
		old:     old,
		oldSize: oldSize,
		newSize: newSize,
		pr:      segReader{r: bufio.NewReaderSize(patch, 64<<10), newSize: newSize},
		seen:    seen,
	}
	if data, unmap := mapOld(old, oldSize); data != nil {
		// The whole file is the window. If it shrinks while mapped, reading
		// its lost pages faults: that is an error, not a crash.
		a.win, a.mapped = data, true
		defer unmap()
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(interface{ Addr() uintptr })
				if !ok {
					panic(r)
				}
				base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
				if f.Addr()-base >= uintptr(len(data)) {
					panic(r)
				}
				err = fmt.Errorf("applying delta: reading old: it changed while being read (%v)", r)
			}
		}()
	}
	if err := a.run(); err != nil {
		return fmt.Errorf("applying delta: %w", err)
	}
	return nil
}

type applier struct {
	w       io.Writer
	old     io.ReaderAt
	oldSize int64
	newSize int64
	pr      segReader

	oldPos, out int64
	opEnd       int64  // old position where the current add op ends
	win         []byte // old[winPos:winPos+len(win)]
	winPos      int64
	mapped      bool   // win is all of old, mapped (mapOld)
	obuf        []byte // output not yet written
	on          int
	s           [numStreams][]byte // unread part of each stream
	x86         bool               // segment predicts x86-64 displacements
	targets     bool               // segment's extra code fields hold targets
	p           predictor          // of the current x86 segment
	global      relMap             // the last global map sent (flagGlobal)
	elf         *elfInfo           // old's layout, read at the first x86 segment
	haveELF     bool
	seen        func(kind int, stored uint64, raw []byte) // see Streams
}

// ReadHeader reads the header of a patch and returns the old and new sizes
// it declares. Apply checks them against the sizes the caller expects; this
// is for tools that inspect a patch.
func ReadHeader(patch io.Reader) (oldSize, newSize int64, err error) {
	pr := segReader{r: bufio.NewReaderSize(patch, 64)}
	o, n, err := pr.header()
	if err != nil {
		return 0, 0, fmt.Errorf("reading delta header: %w", err)
	}
	return int64(o), int64(n), nil
}

func (pr *segReader) header() (oldSize, newSize uint64, err error) {
	var hdr [len(magic) + 1]byte
	if _, err := io.ReadFull(pr.r, hdr[:]); err != nil {
		return 0, 0, corrupt("reading header: %v", errShortPatch)
	}
	if string(hdr[:len(magic)]) != magic {
		return 0, 0, corrupt("bad magic")
	}
	if hdr[len(magic)] != version {
		return 0, 0, corrupt("unsupported version %d", hdr[len(magic)])
	}
	if oldSize, err = pr.uvarint("old size"); err != nil {
		return 0, 0, err
	}
	if newSize, err = pr.uvarint("new size"); err != nil {
		return 0, 0, err
	}
	if oldSize > maxFileSize || newSize > maxFileSize {
		return 0, 0, corrupt("sizes %d, %d out of range", oldSize, newSize)
	}
	return oldSize, newSize, nil
}

func (a *applier) run() error {
	oldSize, newSize, err := a.pr.header()
	if err != nil {
		return err
	}
	if oldSize != uint64(a.oldSize) {
		return corrupt("patch is for an old file of %d bytes, have %d", oldSize, a.oldSize)
	}
	if newSize != uint64(a.newSize) {
		return corrupt("patch makes %d bytes, expected %d", newSize, a.newSize)
	}
	// When more than one segment follows, each next one is read and
	// decoded on another goroutine while the ops of the one before run (a
	// browser's segments spend about as long in each).
	segs, done := make(chan readSeg), make(chan struct{})
	var ahead sync.WaitGroup
	defer func() {
		close(done)
		ahead.Wait()
		if a.pr.dec != nil {
			a.pr.dec.Close()
		}
	}()
	g, next := a.pr.segment(), a.pr.segment
	if _, err := a.pr.r.Peek(1); g.err == nil && err == nil {
		ahead.Go(func() { a.pr.readAhead(segs, done) })
		next = func() readSeg { return <-segs }
	}
	for a.out < a.newSize {
		if g.err == io.EOF {
			return corrupt("reading segment flags: %v", errShortPatch)
		}
		if g.err != nil {
			return g.err
		}
		if err := a.segment(g); err != nil {
			return err
		}
		g = next()
	}
	if g.err != io.EOF {
		return corrupt("trailing data after the last segment")
	}
	return a.flush()
}

// A segReader reads a patch's segments and decodes their streams. It
// touches nothing of the applier's, so that it can run a segment ahead.
type segReader struct {
	r       *bufio.Reader
	dec     *zstd.Decoder
	newSize int64
	coders  bool // segment's compressed streams name their coder
}

// readSeg is one segment read and decoded, or the error that ended the
// patch: io.EOF where the patch ends between segments.
type readSeg struct {
	flags byte
	sts   []*stream
	err   error
}

// readAhead sends the patch's segments in order, up to its end or first
// error, or until done is closed.
func (pr *segReader) readAhead(segs chan<- readSeg, done <-chan struct{}) {
	for {
		g := pr.segment()
		select {
		case segs <- g:
		case <-done:
			return
		}
		if g.err != nil {
			return
		}
	}
}

func (pr *segReader) uvarint(what string) (uint64, error) {
	v, err := binary.ReadUvarint(pr.r)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, corrupt("reading %s: %v", what, errShortPatch)
		}
		return 0, corrupt("reading %s: %v", what, err)
	}
	return v, nil
}

// stream is one stream of a segment as read from the patch: raw, or comp
// to be decoded with coder into rawLen bytes.
type stream struct {
	kind   int // its index in streamNames
	raw    []byte
	packed bool // comp is to be decoded with coder
	coder  byte
	comp   []byte
	rawLen uint64
	stored uint64 // its bytes in the patch: rawLen, or the length of comp
}

// readStream reads one stream of at most limit raw bytes; kind is its
// index in streamNames.
func (pr *segReader) readStream(kind int, limit uint64) (*stream, error) {
	h, err := pr.uvarint("stream header")
	if err != nil {
		return nil, err
	}
	st := &stream{kind: kind, rawLen: h >> 1, stored: h >> 1}
	if st.rawLen > limit {
		return nil, corrupt("segment streams exceed %d bytes", maxSegmentRaw)
	}
	if h&1 == 0 {
		// Grow as bytes arrive: a truncated patch allocates little.
		st.raw, err = io.ReadAll(io.LimitReader(pr.r, int64(st.rawLen)))
		if err != nil {
			return nil, fmt.Errorf("reading patch: %w", err)
		}
		if uint64(len(st.raw)) != st.rawLen {
			return nil, corrupt("reading stream: %v", errShortPatch)
		}
		return st, nil
	}
	st.packed, st.coder = true, coderZstd
	if pr.coders {
		if st.coder, err = pr.r.ReadByte(); err != nil {
			return nil, corrupt("reading stream coder: %v", errShortPatch)
		}
		if st.coder != coderZstd && st.coder != coderLZMA {
			return nil, corrupt("unknown stream coder %d", st.coder)
		}
	}
	compLen, err := pr.uvarint("stream length")
	if err != nil {
		return nil, err
	}
	if compLen >= st.rawLen {
		return nil, corrupt("compressed stream not smaller than raw")
	}
	st.comp, err = io.ReadAll(io.LimitReader(pr.r, int64(compLen)))
	if err != nil {
		return nil, fmt.Errorf("reading patch: %w", err)
	}
	if uint64(len(st.comp)) != compLen {
		return nil, corrupt("reading stream: %v", errShortPatch)
	}
	st.stored = compLen
	return st, nil
}

// decodeStreams decodes the compressed streams of a segment, the LZMA
// ones concurrently (a browser's segment spends seconds on them, its
// literals alone three fifths), and reports the first error in stream
// order.
func (pr *segReader) decodeStreams(sts []*stream) error {
	errs := make([]error, len(sts))
	decode := func(i int) {
		st := sts[i]
		raw, err := pr.decompress(st.coder, st.comp, st.rawLen)
		if err == nil && uint64(len(raw)) != st.rawLen {
			err = corrupt("stream decompressed to %d bytes, header says %d", len(raw), st.rawLen)
		}
		st.raw, st.comp, errs[i] = raw, nil, err
	}
	var wg sync.WaitGroup
	for i, st := range sts {
		switch {
		case !st.packed:
		case st.coder == coderLZMA:
			wg.Go(func() { decode(i) })
		default:
			decode(i)
		}
	}
	wg.Wait()
	for i := range sts {
		if errs[i] != nil {
			return errs[i]
		}
	}
	return nil
}

// decompress decodes comp with coder into at most rawLen bytes.
func (pr *segReader) decompress(coder byte, comp []byte, rawLen uint64) ([]byte, error) {
	if coder == coderLZMA {
		return lzmaDecompress(comp, rawLen)
	}
	if pr.dec == nil {
		var err error
		pr.dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxSegmentRaw),
			zstd.WithDecoderMaxMemory(maxSegmentRaw),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, fmt.Errorf("creating zstd decoder: %w", err)
		}
	}
	raw, err := pr.dec.DecodeAll(comp, hugemem.Make[byte](int(rawLen))[:0])
	if err != nil {
		return nil, corrupt("decompressing stream: %v", err)
	}
	return raw, nil
}

// segment reads one segment's streams and decodes them.
func (pr *segReader) segment() readSeg {
	flags, err := pr.r.ReadByte()
	if err == io.EOF {
		return readSeg{err: io.EOF}
	}
	if err != nil {
		return readSeg{err: corrupt("reading segment flags: %v", errShortPatch)}
	}
	if flags&^knownFlags != 0 || flags&flagOverrides != 0 && flags&flagX86 == 0 {
		return readSeg{err: corrupt("bad segment flags %#x", flags)}
	}
	if flags&flagTargets != 0 && pr.newSize > maxTargetsFile {
		return readSeg{err: corrupt("targets in the extra stream of a new file of %d bytes", pr.newSize)}
	}
	pr.coders = flags&flagCoders != 0
	var sts []*stream
	total := uint64(0)
	read := func(kind int) error {
		st, err := pr.readStream(kind, maxSegmentRaw-total)
		if err != nil {
			return err
		}
		sts = append(sts, st)
		total += st.rawLen
		return nil
	}
	if flags&flagOverrides != 0 {
		err = read(0)
	}
	if err == nil && flags&flagGlobal != 0 {
		err = read(1)
	}
	for i := 0; err == nil && i < numStreams; i++ {
		err = read(2 + i)
	}
	if err == nil {
		err = pr.decodeStreams(sts)
	}
	if err != nil {
		return readSeg{err: err}
	}
	return readSeg{flags: flags, sts: sts}
}

// segment runs the ops of a segment read by segReader.segment.
func (a *applier) segment(g readSeg) error {
	flags, sts := g.flags, g.sts
	if a.seen != nil {
		for _, st := range sts {
			a.seen(st.kind, st.stored, st.raw)
		}
	}
	var over relMap
	for _, st := range sts {
		var ok bool
		switch st.kind {
		case 0:
			if over, ok = parseOverrides(st.raw, false); !ok || len(over) == 0 {
				return corrupt("bad override stream")
			}
		case 1:
			if a.global, ok = parseOverrides(st.raw, true); !ok || len(a.global) == 0 {
				return corrupt("bad global map stream")
			}
		default:
			a.s[st.kind-2] = st.raw
		}
	}
	start := a.out
	a.targets = flags&flagTargets != 0
	a.x86 = flags&flagX86 != 0
	if a.x86 {
		if !a.haveELF {
			a.elf, a.haveELF = readELF(a.old, a.oldSize), true
		}
		a.p = predictor{
			base:   buildMap(a.s[stCtrl], a.oldPos, a.out, a.oldSize, a.newSize),
			over:   over,
			global: a.global,
			elf:    a.elf,
			limit:  a.oldSize,
		}
	}
	for len(a.s[stCtrl]) > 0 {
		if err := a.op(); err != nil {
			return err
		}
	}
	for i := range a.s {
		if len(a.s[i]) != 0 {
			return corrupt("stream %d has %d unused bytes", i, len(a.s[i]))
		}
	}
	if a.out == start {
		return corrupt("empty segment")
	}
	return nil
}

func take(b *[]byte) (uint64, bool) {
	v, n := binary.Uvarint(*b)
	if n <= 0 {
		return 0, false
	}
	*b = (*b)[n:]
	return v, true
}

func (a *applier) op() error {
	c := &a.s[stCtrl]
	add, ok1 := take(c)
	extra, ok2 := take(c)
	seek, n := binary.Varint(*c)
	if !ok1 || !ok2 || n <= 0 {
		return corrupt("bad control entry")
	}
	*c = (*c)[n:]
	left := uint64(a.newSize - a.out)
	if add > left || extra > left-add {
		return corrupt("op writes past the new size %d", a.newSize)
	}
	if add > uint64(a.oldSize-a.oldPos) {
		return corrupt("op reads past the end of old")
	}
	a.opEnd = a.oldPos + int64(add)
	if a.x86 {
		if err := a.addX86(int64(add)); err != nil {
			return err
		}
		add = 0
	}
	for add > 0 {
		zeros, ok1 := take(&a.s[stRuns])
		lits, ok2 := take(&a.s[stRuns])
		if !ok1 || !ok2 {
			return corrupt("bad run entry")
		}
		if zeros > add || lits > add-zeros || zeros+lits == 0 {
			return corrupt("run does not fit its op")
		}
		if err := a.copyOld(int64(zeros), nil); err != nil {
			return err
		}
		if lits > uint64(len(a.s[stDiff])) {
			return corrupt("difference stream too short")
		}
		d := a.s[stDiff][:lits]
		a.s[stDiff] = a.s[stDiff][lits:]
		if err := a.copyOld(int64(lits), d); err != nil {
			return err
		}
		add -= zeros + lits
	}
	if extra > uint64(len(a.s[stExtra])) {
		return corrupt("extra stream too short")
	}
	if a.targets {
		b := a.s[stExtra][:extra]
		rewriteFields(b, b, a.out, a.newSize, fromTarget)
	}
	if err := a.write(a.s[stExtra][:extra]); err != nil {
		return err
	}
	a.s[stExtra] = a.s[stExtra][extra:]
	// seek is within ±2^63 and oldPos within [0, 2^40]: no overflow.
	p := a.oldPos + seek
	if p < 0 || p > a.oldSize {
		return corrupt("seek to %d outside old", p)
	}
	a.oldPos = p
	return nil
}

// addX86 writes an add op of n bytes whose differences are against x86-64
// displacement predictions (see predict), in chunks that fit the output
// buffer.
func (a *applier) addX86(n int64) error {
	if a.obuf == nil {
		a.obuf = make([]byte, ioBufSize)
	}
	opOld, dcur := a.oldPos, a.out-a.oldPos
	var zl, ll uint64 // what is left of the current run pair
	next := 0
	for k := int64(0); k < n; {
		if len(a.obuf)-a.on < 64 {
			if err := a.flush(); err != nil {
				return err
			}
		}
		c0 := k
		c1 := min(n, c0+int64(min(len(a.obuf)-a.on, 64<<10)))
		sbase := max(c0-2, 0)
		src, err := a.oldAt(opOld+sbase, min(c1+maxField-1, n)-sbase, opOld+n)
		if err != nil {
			return err
		}
		pred := a.obuf[a.on : a.on+int(c1-c0)]
		copy(pred, src[c0-sbase:])
		var e int
		next, e = a.p.predict(pred, int(c0), int(c1), src, int(sbase), int(n), next, opOld, dcur)
		c1 = int64(e)
		for p := c0; p < c1; {
			if zl == 0 && ll == 0 {
				var ok1, ok2 bool
				zl, ok1 = take(&a.s[stRuns])
				ll, ok2 = take(&a.s[stRuns])
				if !ok1 || !ok2 {
					return corrupt("bad run entry")
				}
				if left := uint64(n - p); zl > left || ll > left-zl || zl+ll == 0 {
					return corrupt("run does not fit its op")
				}
				if ll > uint64(len(a.s[stDiff])) {
					return corrupt("difference stream too short")
				}
			}
			if zl > 0 {
				s := min(zl, uint64(c1-p))
				p += int64(s)
				zl -= s
				continue
			}
			s := min(ll, uint64(c1-p))
			dst := a.obuf[a.on+int(p-c0):][:s]
			addBytes(dst, dst, a.s[stDiff][:s])
			a.s[stDiff] = a.s[stDiff][s:]
			p += int64(s)
			ll -= s
		}
		a.on += int(c1 - c0)
		a.out += c1 - c0
		k = c1
	}
	a.oldPos += n
	return nil
}

// oldAt returns old[p:p+n] from the window, refilling it if needed; n must
// not exceed the window size.
func (a *applier) oldAt(p, n, opEnd int64) ([]byte, error) {
	if p < a.winPos || p+n > a.winPos+int64(len(a.win)) {
		if err := a.fill(p, max(n, opEnd-p)); err != nil {
			return nil, err
		}
	}
	return a.win[p-a.winPos:][:n], nil
}

// copyOld writes n bytes of old from oldPos, adding diff byte-wise if given.
func (a *applier) copyOld(n int64, diff []byte) error {
	if a.obuf == nil {
		a.obuf = make([]byte, ioBufSize)
	}
	for n > 0 {
		if a.on == len(a.obuf) {
			if err := a.flush(); err != nil {
				return err
			}
		}
		// Refill the old window when oldPos is outside it.
		if a.oldPos < a.winPos || a.oldPos >= a.winPos+int64(len(a.win)) {
			if err := a.fill(a.oldPos, a.opEnd-a.oldPos); err != nil {
				return err
			}
		}
		src := a.win[a.oldPos-a.winPos:]
		k := min(n, int64(len(src)), int64(len(a.obuf)-a.on))
		dst := a.obuf[a.on : a.on+int(k)]
		if diff == nil {
			copy(dst, src)
		} else {
			addBytes(dst, src, diff[:k])
			diff = diff[k:]
		}
		a.on += int(k)
		a.out += k
		a.oldPos += k
		n -= k
	}
	return nil
}

// fill reads the window from old position p on: want bytes (what is left
// of the op), at least minFill and at most the window size.
func (a *applier) fill(p, want int64) error {
	if a.mapped {
		// Ops are checked against oldSize before they read.
		return fmt.Errorf("reading old at %d: outside the file", p)
	}
	if a.win == nil {
		a.win = make([]byte, ioBufSize)
	}
	k := min(int64(cap(a.win)), a.oldSize-p, max(want, minFill))
	a.win = a.win[:k]
	m, err := a.old.ReadAt(a.win, p)
	if int64(m) != k {
		a.win = a.win[:0]
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading old at %d: %w", p, err)
	}
	a.winPos = p
	return nil
}

func addBytes(dst, src, d []byte) {
	src = src[:len(dst)]
	d = d[:len(dst)]
	for i := range dst {
		dst[i] = src[i] + d[i]
	}
}

// write writes literal bytes to the output.
func (a *applier) write(b []byte) error {
	if a.obuf == nil {
		a.obuf = make([]byte, ioBufSize)
	}
	for len(b) > 0 {
		if a.on == len(a.obuf) {
			if err := a.flush(); err != nil {
				return err
			}
		}
		k := copy(a.obuf[a.on:], b)
		a.on += k
		a.out += int64(k)
		b = b[k:]
	}
	return nil
}

func (a *applier) flush() error {
	if a.on == 0 {
		return nil
	}
	if _, err := a.w.Write(a.obuf[:a.on]); err != nil {
		return fmt.Errorf("writing new: %w", err)
	}
	a.on = 0
	return nil
}
