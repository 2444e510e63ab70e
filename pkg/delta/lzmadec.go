package delta

import (
	"encoding/binary"
	"math/bits"

	"github.com/patchkit/patchkit/internal/hugemem"
)

// rcDecoder is the range decoder over one stream's bytes. Reading past the
// end sets short instead of failing at once; the caller checks it.
type rcDecoder struct {
	in    []byte
	pos   int
	rng   uint32
	code  uint32
	short bool
}

func (d *rcDecoder) init(in []byte) bool {
	if len(in) < 5 || in[0] != 0 {
		return false
	}
	d.in, d.pos = in, 5
	d.rng = 0xFFFFFFFF
	d.code = binary.BigEndian.Uint32(in[1:5])
	return d.code != d.rng
}

func (d *rcDecoder) next() uint32 {
	if d.pos < len(d.in) {
		b := d.in[d.pos]
		d.pos++
		return uint32(b)
	}
	d.short = true
	return 0
}

func (d *rcDecoder) bit(p *prob) uint32 {
	d.rng, d.code = d.norm(d.rng, d.code)
	bound := (d.rng >> probBits) * uint32(*p)
	if d.code < bound {
		d.rng = bound
		*p += (1<<probBits - *p) >> probMove
		return 0
	}
	d.code -= bound
	d.rng -= bound
	*p -= *p >> probMove
	return 1
}

// norm returns the coder's state rng, code with the next input byte
// shifted in when the range is low.
func (d *rcDecoder) norm(rng, code uint32) (uint32, uint32) {
	if rng < 1<<rcTopBits {
		return rng << 8, code<<8 | d.next()
	}
	return rng, code
}

// literal decodes a byte coded with ps, against match byte mb when matched;
// the hot loop of decoding, with the coder's state in locals. A matched
// literal decodes with the match byte's probabilities until its first bit
// that differs from the match byte's, and the rest as a plain literal.
func (d *rcDecoder) literal(ps []prob, mb uint32, matched bool) byte {
	ps = ps[:0x300]
	rng, code := d.rng, d.code
	sym := uint32(1)
	if matched {
		for sym < 0x100 {
			rng, code = d.norm(rng, code)
			mb <<= 1
			mbit := mb & 0x100
			var bit uint32
			// sym&0xff is sym; the mask proves the index below 0x300.
			rng, code, bit = rcBit(rng, code, &ps[0x100+mbit+sym&0xff])
			sym = sym<<1 | bit
			if mbit != bit<<8 {
				break
			}
		}
	}
	for sym < 0x100 {
		rng, code = d.norm(rng, code)
		var bit uint32
		rng, code, bit = rcBit(rng, code, &ps[sym])
		sym = sym<<1 | bit
	}
	d.rng, d.code = rng, code
	return byte(sym)
}

// rcBit decodes one bit with probability p from the coder's state rng,
// code (normalized), and adapts p. It returns the new state and the bit.
func rcBit(rng, code uint32, p *prob) (uint32, uint32, uint32) {
	bound := (rng >> probBits) * uint32(*p)
	bit, mask := rcSplit(code, bound)
	*p = rcAdapt(*p, mask)
	return bound + (rng-bound-bound)&mask, code - bound&mask, bit
}

// rcSplit returns the bit that code decodes to against bound (0 below
// it), and a mask of all ones for a 1, computed without a branch: the bits
// of literals and trees are near random, and a mispredicted branch costs
// more than the arithmetic.
func rcSplit(code, bound uint32) (bit, mask uint32) {
	bit = uint32((uint64(code)-uint64(bound))>>63) ^ 1
	return bit, -bit
}

// rcAdapt moves p towards the bit decoded, as bit does: by (2^11-p)>>5 up
// for a 0 (mask 0), by p>>5 down for a 1. For the 0 the shift is of a
// negative number, and p-2017 makes its rounding that of (2^11-p)>>5.
func rcAdapt(p prob, mask uint32) prob {
	t := int32(1<<probBits-(1<<probMove-1)) &^ int32(mask)
	return p - prob((int32(p)-t)>>probMove)
}

// direct decodes n bits of probability one half, most significant first.
func (d *rcDecoder) direct(n int) uint32 {
	rng, code := d.rng, d.code
	var v uint32
	for ; n > 0; n-- {
		rng, code = d.norm(rng, code)
		rng >>= 1
		v <<= 1
		if code >= rng {
			code -= rng
			v |= 1
		}
	}
	d.rng, d.code = rng, code
	return v
}

// tree decodes n bits through the bit tree ps, most significant first,
// with the coder's state in locals.
func (d *rcDecoder) tree(ps []prob, n int) uint32 {
	rng, code := d.rng, d.code
	m := uint32(1)
	for i := 0; i < n; i++ {
		rng, code = d.norm(rng, code)
		var bit uint32
		rng, code, bit = rcBit(rng, code, &ps[m])
		m = m<<1 | bit
	}
	d.rng, d.code = rng, code
	return m - 1<<uint(n)
}

// reverseTree decodes n bits through the bit tree ps, least significant
// first.
func (d *rcDecoder) reverseTree(ps []prob, n int) uint32 {
	return bits.Reverse32(d.tree(ps, n)) >> (32 - uint(n))
}

func (d *rcDecoder) length(l *lenModel, posState int) int {
	if d.bit(&l.choice) == 0 {
		return lzmaMinLen + int(d.tree(l.low[posState][:], lzmaLenLowBits))
	}
	if d.bit(&l.choice2) == 0 {
		return lzmaMinLen + lzmaLenLow + int(d.tree(l.mid[posState][:], lzmaLenMidBits))
	}
	return lzmaMinLen + lzmaLenLow + lzmaLenMid + int(d.tree(l.high[:], lzmaLenHighBits))
}

// lzmaDecompress decodes an LZMA stream (header included) that must produce
// exactly size bytes, where size is at most maxSegmentRaw.
func lzmaDecompress(in []byte, size uint64) ([]byte, error) {
	if len(in) < lzmaHeaderSize {
		return nil, corrupt("lzma stream: %v", errShortPatch)
	}
	props, ok := parseProps(in[0])
	if !ok {
		return nil, corrupt("lzma stream: bad properties %#x", in[0])
	}
	dict := binary.LittleEndian.Uint32(in[1:])
	if dict > maxSegmentRaw {
		return nil, corrupt("lzma stream: dictionary of %d bytes", dict)
	}
	if n := binary.LittleEndian.Uint64(in[5:]); n != size || size > maxSegmentRaw {
		return nil, corrupt("lzma stream declares %d bytes, header says %d", n, size)
	}
	var rc rcDecoder
	if !rc.init(in[lzmaHeaderSize:]) {
		return nil, corrupt("lzma stream: bad range coder start")
	}
	out := hugemem.Make[byte](int(size))
	m := newLZMAModel(props)
	pbMask := 1<<props.pb - 1
	n := len(out)
	state, pos := 0, 0
	var reps [4]uint32
	for pos < n {
		if rc.short {
			return nil, corrupt("lzma stream: %v", errShortPatch)
		}
		posState := pos & pbMask
		if rc.bit(&m.isMatch[state<<lzmaPosBitsMax+posState]) == 0 {
			var prev byte
			if pos > 0 {
				prev = out[pos-1]
			}
			var mb uint32
			matched := state >= lzmaLitStates
			if matched {
				// reps[0] < pos: every distance was checked when it was set.
				mb = uint32(out[pos-int(reps[0])-1])
			}
			out[pos] = rc.literal(m.litProbs(pos, prev), mb, matched)
			pos++
			state = stateLit(state)
			continue
		}
		var l int
		if rc.bit(&m.isRep[state]) == 0 {
			l = rc.length(&m.matchLen, posState)
			slot := rc.tree(m.slot[lenState(l)][:], lzmaSlotBits)
			dist := slot
			if slot >= 4 {
				nd := int(slot>>1) - 1
				dist = (2 | slot&1) << uint(nd)
				if slot < lzmaEndPosModel {
					dist += rc.reverseTree(m.specPos[dist-slot:], nd)
				} else {
					dist += rc.direct(nd-lzmaAlignBits) << lzmaAlignBits
					dist += rc.reverseTree(m.align[:], lzmaAlignBits)
				}
			}
			reps = [4]uint32{dist, reps[0], reps[1], reps[2]}
			state = stateMatch(state)
		} else {
			if rc.bit(&m.isRepG0[state]) == 0 {
				if rc.bit(&m.isRep0Long[state<<lzmaPosBitsMax+posState]) == 0 {
					if int(reps[0]) >= pos {
						return nil, corrupt("lzma stream: distance %d at %d", reps[0]+1, pos)
					}
					out[pos] = out[pos-int(reps[0])-1]
					pos++
					state = stateShortRep(state)
					continue
				}
			} else {
				var d uint32
				if rc.bit(&m.isRepG1[state]) == 0 {
					d = reps[1]
				} else {
					if rc.bit(&m.isRepG2[state]) == 0 {
						d = reps[2]
					} else {
						d = reps[3]
						reps[3] = reps[2]
					}
					reps[2] = reps[1]
				}
				reps[1] = reps[0]
				reps[0] = d
			}
			l = rc.length(&m.repLen, posState)
			state = stateRep(state)
		}
		d := int(reps[0])
		if d >= pos || reps[0] >= dict {
			return nil, corrupt("lzma stream: distance %d at %d", d+1, pos)
		}
		if l > n-pos {
			return nil, corrupt("lzma stream: match of %d bytes past the end", l)
		}
		src := pos - d - 1
		if l <= 16 && d >= 7 && n-pos >= 16 {
			// Most matches are short: two words, eight bytes apart at
			// least, so the second reads what the first wrote; the bytes
			// past the match are written again later.
			binary.LittleEndian.PutUint64(out[pos:], binary.LittleEndian.Uint64(out[src:]))
			binary.LittleEndian.PutUint64(out[pos+8:], binary.LittleEndian.Uint64(out[src+8:]))
		} else if d+1 >= l {
			copy(out[pos:pos+l], out[src:src+l])
		} else {
			for i := 0; i < l; i++ {
				out[pos+i] = out[src+i]
			}
		}
		pos += l
	}
	rc.rng, rc.code = rc.norm(rc.rng, rc.code) // the encoder's flush wrote the last byte
	if rc.short || rc.pos != len(rc.in) || rc.code != 0 {
		return nil, corrupt("lzma stream does not end where its data does")
	}
	return out, nil
}
