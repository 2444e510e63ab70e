package delta

// An LZMA coder for the streams of large segments (coder 1 in docs/delta.md).
//
// A stream coded this way is an "LZMA alone" stream (the .lzma format xz
// reads with --format=lzma): a 13-byte header (properties byte, dictionary
// size, uncompressed size) and the range-coded LZMA1 data, with no end
// marker. The decoder here accepts the subset the encoder writes and
// docs/delta.md specifies: the exact size the segment declares, a dictionary
// of at most maxSegmentRaw, lc+lp <= 4, pb <= 4, and a range coder that ends
// exactly at the end of the stream.
//
// The model is LZMA's: 12 states, literals coded bit by bit with the
// previous byte's top lc bits as context (against the byte at the last
// distance after a match), lengths 2..273, distances by slot, and four
// repeated distances. The encoder (lzmaenc.go) chooses its symbols by
// optimal parsing over prices (lzmaprice.go) with a binary-tree match
// finder (lzmamf.go).

import (
	"encoding/binary"
	"math/bits"
)

const (
	lzmaHeaderSize = 13

	lzmaStates      = 12
	lzmaLitStates   = 7 // states below this follow a literal
	lzmaPosBitsMax  = 4
	lzmaMinLen      = 2
	lzmaMaxLen      = 273
	lzmaLenLowBits  = 3
	lzmaLenMidBits  = 3
	lzmaLenHighBits = 8
	lzmaLenLow      = 1 << lzmaLenLowBits
	lzmaLenMid      = 1 << lzmaLenMidBits
	lzmaLenStates   = 4 // length contexts of the distance slot
	lzmaSlotBits    = 6
	lzmaAlignBits   = 4
	lzmaEndPosModel = 14 // slots from here code their low bits as align bits
	lzmaFullDist    = 1 << (lzmaEndPosModel >> 1)

	probBits  = 11
	probInit  = 1 << (probBits - 1)
	probMove  = 5
	rcTopBits = 24
)

type prob uint16

// lzmaProps are the literal context bits, literal position bits and
// position bits of a stream.
type lzmaProps struct{ lc, lp, pb uint }

func (p lzmaProps) byte() byte { return byte((p.pb*5+p.lp)*9 + p.lc) }

func parseProps(b byte) (lzmaProps, bool) {
	if b >= 9*5*5 {
		return lzmaProps{}, false
	}
	p := lzmaProps{lc: uint(b % 9), lp: uint(b / 9 % 5), pb: uint(b / 45)}
	return p, p.lc+p.lp <= 4 && p.pb <= lzmaPosBitsMax
}

// lzmaHeader returns the stream header for n bytes coded with props and a
// dictionary of dict bytes.
func lzmaHeader(p lzmaProps, dict uint32, n uint64) []byte {
	h := make([]byte, lzmaHeaderSize)
	h[0] = p.byte()
	binary.LittleEndian.PutUint32(h[1:], dict)
	binary.LittleEndian.PutUint64(h[5:], n)
	return h
}

// lenModel codes match lengths (one for matches, one for repeats).
type lenModel struct {
	choice, choice2 prob
	low             [1 << lzmaPosBitsMax][lzmaLenLow]prob
	mid             [1 << lzmaPosBitsMax][lzmaLenMid]prob
	high            [1 << lzmaLenHighBits]prob
}

// lzmaModel holds every probability of a stream; encoder and decoder keep
// identical copies.
type lzmaModel struct {
	props lzmaProps
	lit   []prob // 0x300 per literal context

	isMatch    [lzmaStates << lzmaPosBitsMax]prob
	isRep      [lzmaStates]prob
	isRepG0    [lzmaStates]prob
	isRepG1    [lzmaStates]prob
	isRepG2    [lzmaStates]prob
	isRep0Long [lzmaStates << lzmaPosBitsMax]prob

	slot    [lzmaLenStates][1 << lzmaSlotBits]prob
	specPos [lzmaFullDist - lzmaEndPosModel + 1]prob // index 0 unused: trees start at 1, from base-slot-1
	align   [1 << lzmaAlignBits]prob

	matchLen, repLen lenModel
}

func newLZMAModel(p lzmaProps) *lzmaModel {
	m := &lzmaModel{props: p, lit: make([]prob, 0x300<<(p.lc+p.lp))}
	fill := func(ps []prob) {
		for i := range ps {
			ps[i] = probInit
		}
	}
	fill(m.lit)
	fill(m.isMatch[:])
	fill(m.isRep[:])
	fill(m.isRepG0[:])
	fill(m.isRepG1[:])
	fill(m.isRepG2[:])
	fill(m.isRep0Long[:])
	for i := range m.slot {
		fill(m.slot[i][:])
	}
	fill(m.specPos[:])
	fill(m.align[:])
	for _, l := range []*lenModel{&m.matchLen, &m.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			fill(l.low[i][:])
			fill(l.mid[i][:])
		}
		fill(l.high[:])
	}
	return m
}

// litProbs returns the 0x300 literal probabilities for position pos after
// byte prev.
func (m *lzmaModel) litProbs(pos int, prev byte) []prob {
	lc, lp := m.props.lc, m.props.lp
	ctx := (uint(pos)&(1<<lp-1))<<lc + uint(prev)>>(8-lc)
	return m.lit[ctx*0x300 : ctx*0x300+0x300]
}

// State transitions.
func stateLit(s int) int {
	switch {
	case s < 4:
		return 0
	case s < 10:
		return s - 3
	default:
		return s - 6
	}
}

func stateMatch(s int) int {
	if s < lzmaLitStates {
		return 7
	}
	return 10
}

func stateRep(s int) int {
	if s < lzmaLitStates {
		return 8
	}
	return 11
}

func stateShortRep(s int) int {
	if s < lzmaLitStates {
		return 9
	}
	return 11
}

// lenState is the distance slot's context for a match of length l.
func lenState(l int) int { return min(l-lzmaMinLen, lzmaLenStates-1) }

// distSlot returns the slot of distance d (the 0-based distance LZMA codes).
func distSlot(d uint32) int {
	if d < 4 {
		return int(d)
	}
	n := bits.Len32(d) - 1 // index of the top bit, >= 2
	return 2*n + int(d>>(n-1)&1)
}

// rcEncoder is the range encoder.
type rcEncoder struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int64
	out       []byte
}

func newRCEncoder(out []byte) *rcEncoder {
	return &rcEncoder{rng: 0xFFFFFFFF, cacheSize: 1, out: out}
}

func (e *rcEncoder) shiftLow() {
	if uint32(e.low) < 0xFF000000 || e.low>>32 != 0 {
		carry := byte(e.low >> 32)
		b := e.cache
		for {
			e.out = append(e.out, b+carry)
			b = 0xFF
			e.cacheSize--
			if e.cacheSize == 0 {
				break
			}
		}
		e.cache = byte(e.low >> 24)
	}
	e.cacheSize++
	e.low = (e.low & 0x00FFFFFF) << 8
}

func (e *rcEncoder) bit(p *prob, b uint32) {
	bound := (e.rng >> probBits) * uint32(*p)
	if b == 0 {
		e.rng = bound
		*p += (1<<probBits - *p) >> probMove
	} else {
		e.low += uint64(bound)
		e.rng -= bound
		*p -= *p >> probMove
	}
	for e.rng < 1<<rcTopBits {
		e.rng <<= 8
		e.shiftLow()
	}
}

// direct codes the low n bits of v at probability one half each.
func (e *rcEncoder) direct(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		e.rng >>= 1
		if v>>uint(i)&1 != 0 {
			e.low += uint64(e.rng)
		}
		for e.rng < 1<<rcTopBits {
			e.rng <<= 8
			e.shiftLow()
		}
	}
}

func (e *rcEncoder) tree(ps []prob, v uint32, n int) {
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		b := v >> uint(i) & 1
		e.bit(&ps[m], b)
		m = m<<1 | b
	}
}

func (e *rcEncoder) reverseTree(ps []prob, v uint32, n int) {
	m := uint32(1)
	for i := 0; i < n; i++ {
		b := v & 1
		v >>= 1
		e.bit(&ps[m], b)
		m = m<<1 | b
	}
}

func (e *rcEncoder) finish() []byte {
	for i := 0; i < 5; i++ {
		e.shiftLow()
	}
	return e.out
}
