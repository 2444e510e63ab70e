package delta

// The LZMA encoder: optimal parsing in the manner of LZMA's own encoder.
// From each position it prices every way to code the next up to
// lzmaOptSpan bytes (a literal, the last distance for one byte, the four
// repeated distances and every length of every match the finder reports)
// under the model's current probabilities, takes the cheapest path, codes
// it, and goes on from its end. A match of lzmaNice bytes or more ends the
// window and is taken at once.

const (
	lzmaNice      = 64   // a match this long is taken without pricing others
	lzmaDepth     = 24   // binary-tree nodes visited per position
	lzmaOptSpan   = 2048 // longest stretch priced in one go
	lzmaRefresh   = 512  // symbols coded between refreshes of the price tables
	lzmaMinStream = 1 << 20

	// lzmaSmall: when a patch's streams under lzmaMinStream come to less
	// than this in all, those of lzmaTiny bytes or more are coded with LZMA
	// too. zstd's best level has 35 MB of tables, and a few tens of KB of
	// streams touch nearly every page of them: faulting them in took libssl
	// 25 ms, what LZMA takes for 70 KB. On such streams LZMA is 4-8 %
	// smaller (libssl, libnss3). Above lzmaSmall zstd's speed per byte wins
	// its tables back (LZMA on libcrypto's 470 KB: +0.1 s). Below lzmaTiny
	// zstd is smaller (LZMA's header and coder flush are 18 bytes, a zstd
	// frame's about 8) and touches a few pages.
	lzmaSmall = 128 << 10
	lzmaTiny  = 512
)

// lzmaDefaultProps are the properties the encoder writes (LZMA's defaults).
var lzmaDefaultProps = lzmaProps{lc: 3, lp: 0, pb: 2}

type optNode struct {
	price uint32
	prev  int32 // node this one is reached from
	len   int32 // bytes of the step from prev
	kind  int8  // optLit, optShortRep, optRep+k, optMatch
	state int8
	dist  uint32 // of a match
	reps  [4]uint32
}

const (
	optLit = iota
	optShortRep
	optMatch
	optRep // + k for repeated distance k
)

type lzmaEncoder struct {
	nice   int
	data   []byte
	m      *lzmaModel
	rc     *rcEncoder
	mf     *matchFinder
	pr     lzmaPrices
	pbMask int
	state  int
	reps   [4]uint32
	coded  int // symbols since the last price refresh
	opt    []optNode
	path   []int32
}

// lzmaCompress returns the LZMA coding of data (len(data) <= maxSegmentRaw),
// header included.
func lzmaCompress(data []byte) []byte {
	var w lzmaWork
	return w.compress(data, lzmaDefaultProps)
}

// streamProps are the LZMA properties for each stream kind: the
// difference and literal bytes are x86-64 code or its differences, whose
// literals are coded best in the context of the previous byte's top 4
// bits (lc 4) rather than 3 (0.4 % smaller on the Chromium update); the
// literal stream gains a little more from not telling positions apart
// (pb 0).
var streamProps = [numStreams]lzmaProps{
	stCtrl:  lzmaDefaultProps,
	stRuns:  lzmaDefaultProps,
	stDiff:  {lc: 4, lp: 0, pb: 2},
	stExtra: {lc: 4, lp: 0, pb: 0},
}

// An lzmaWork keeps the match finder's tree (8 bytes per byte of the
// largest stream) and hash tables from one stream to the next: a worker
// coding streams largest first allocates them once, where new ones per
// stream would leave hundreds of megabytes of garbage each time for the
// collector, and would fault in fresh pages for every small stream.
type lzmaWork struct{ son, h2, h3, h4 []int32 }

// compress is lzmaCompress with w's tree and properties p.
func (w *lzmaWork) compress(data []byte, p lzmaProps) []byte {
	// The coding is rarely above half of data: room for it, so that the
	// output does not grow by copies.
	out := make([]byte, 0, lzmaHeaderSize+len(data)/2+64)
	e := &lzmaEncoder{
		nice:   lzmaNice,
		data:   data,
		m:      newLZMAModel(p),
		rc:     newRCEncoder(append(out, lzmaHeader(p, dictSize(len(data)), uint64(len(data)))...)),
		mf:     newMatchFinder(data, lzmaNice, lzmaDepth, w),
		pbMask: 1<<p.pb - 1,
		opt:    make([]optNode, lzmaOptSpan+lzmaMaxLen+2),
		coded:  lzmaRefresh,
	}
	for pos := 0; pos < len(data); {
		pos = e.parse(pos)
	}
	return e.rc.finish()
}

// dictSize is the dictionary size the header declares for n bytes: at
// least n, 4 KiB or more, of the form 2^k or 2^k + 2^(k-1) (what xz writes).
func dictSize(n int) uint32 {
	for k := 12; ; k++ {
		if n <= 1<<k {
			return 1 << k
		}
		if n <= 1<<k+1<<(k-1) {
			return 1<<k + 1<<(k-1)
		}
	}
}

// Coding of single symbols, updating the model, state and distances.

func (e *lzmaEncoder) literal(pos int) {
	m, rc := e.m, e.rc
	rc.bit(&m.isMatch[e.state<<lzmaPosBitsMax+pos&e.pbMask], 0)
	var prev byte
	if pos > 0 {
		prev = e.data[pos-1]
	}
	ps := m.litProbs(pos, prev)
	b := uint32(e.data[pos])
	if e.state < lzmaLitStates {
		rc.tree(ps, b, 8)
	} else {
		mb := uint32(e.data[pos-int(e.reps[0])-1])
		off, sym := uint32(0x100), uint32(1)
		for i := 7; i >= 0; i-- {
			bit := b >> uint(i) & 1
			mb <<= 1
			mbit := mb & off
			rc.bit(&ps[off+mbit+sym], bit)
			sym = sym<<1 | bit
			if bit != 0 {
				off &= mbit
			} else {
				off &^= mbit
			}
		}
	}
	e.state = stateLit(e.state)
}

func (e *lzmaEncoder) length(l *lenModel, n, posState int) {
	rc := e.rc
	v := uint32(n - lzmaMinLen)
	switch {
	case v < lzmaLenLow:
		rc.bit(&l.choice, 0)
		rc.tree(l.low[posState][:], v, lzmaLenLowBits)
	case v < lzmaLenLow+lzmaLenMid:
		rc.bit(&l.choice, 1)
		rc.bit(&l.choice2, 0)
		rc.tree(l.mid[posState][:], v-lzmaLenLow, lzmaLenMidBits)
	default:
		rc.bit(&l.choice, 1)
		rc.bit(&l.choice2, 1)
		rc.tree(l.high[:], v-lzmaLenLow-lzmaLenMid, lzmaLenHighBits)
	}
}

func (e *lzmaEncoder) match(pos int, dist uint32, n int) {
	m, rc := e.m, e.rc
	posState := pos & e.pbMask
	rc.bit(&m.isMatch[e.state<<lzmaPosBitsMax+posState], 1)
	rc.bit(&m.isRep[e.state], 0)
	e.length(&m.matchLen, n, posState)
	slot := distSlot(dist)
	rc.tree(m.slot[lenState(n)][:], uint32(slot), lzmaSlotBits)
	if slot >= 4 {
		nd := (slot >> 1) - 1
		base := (2 | uint32(slot)&1) << uint(nd)
		if slot < lzmaEndPosModel {
			rc.reverseTree(m.specPos[base-uint32(slot):], dist-base, nd)
		} else {
			rc.direct((dist-base)>>lzmaAlignBits, nd-lzmaAlignBits)
			rc.reverseTree(m.align[:], dist&(1<<lzmaAlignBits-1), lzmaAlignBits)
		}
	}
	e.reps = [4]uint32{dist, e.reps[0], e.reps[1], e.reps[2]}
	e.state = stateMatch(e.state)
}

// rep codes n bytes at repeated distance k; n == 1 with k == 0 is a short rep.
func (e *lzmaEncoder) rep(pos, k, n int) {
	m, rc := e.m, e.rc
	posState := pos & e.pbMask
	rc.bit(&m.isMatch[e.state<<lzmaPosBitsMax+posState], 1)
	rc.bit(&m.isRep[e.state], 1)
	if k == 0 {
		rc.bit(&m.isRepG0[e.state], 0)
		if n == 1 {
			rc.bit(&m.isRep0Long[e.state<<lzmaPosBitsMax+posState], 0)
			e.state = stateShortRep(e.state)
			return
		}
		rc.bit(&m.isRep0Long[e.state<<lzmaPosBitsMax+posState], 1)
	} else {
		rc.bit(&m.isRepG0[e.state], 1)
		if k == 1 {
			rc.bit(&m.isRepG1[e.state], 0)
		} else {
			rc.bit(&m.isRepG1[e.state], 1)
			rc.bit(&m.isRepG2[e.state], uint32(k-2))
		}
	}
	e.reps = repsAfter(e.reps, k)
	e.length(&m.repLen, n, posState)
	e.state = stateRep(e.state)
}

// repsAfter is reps after using repeated distance k.
func repsAfter(reps [4]uint32, k int) [4]uint32 {
	d := reps[k]
	copy(reps[1:k+1], reps[:k])
	reps[0] = d
	return reps
}
