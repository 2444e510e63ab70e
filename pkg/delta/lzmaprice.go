package delta

import "math/bits"

// Prices are in sixteenths of a bit, from integer arithmetic only, so that
// the encoder's choices (and so the patch bytes) are the same on every
// machine.
const (
	priceShift = 4 // probabilities are looked up in steps of 16
	bitCost    = 1 << 4
	infPrice   = 1 << 30
)

var priceTab = func() (t [1 << probBits >> priceShift]uint32) {
	for i := range t {
		w := uint32(i<<priceShift + 1<<(priceShift-1)) // middle of the step
		t[i] = probBits*bitCost - log2x16(w)
	}
	return t
}()

// log2x16 returns 16·log2(w) rounded down, for 0 < w < 1<<16, by
// repeated squaring of the normalized mantissa.
func log2x16(w uint32) uint32 {
	n := uint32(bits.Len32(w) - 1)
	x := uint64(w) << (15 - n) // in [1<<15, 1<<16): 1.0 <= x/2^15 < 2.0
	var frac uint32
	for i := 0; i < 4; i++ {
		x = x * x >> 15
		frac <<= 1
		if x >= 1<<16 {
			x >>= 1
			frac |= 1
		}
	}
	return n*bitCost + frac
}

func price0(p prob) uint32 { return priceTab[p>>priceShift] }
func price1(p prob) uint32 { return priceTab[(1<<probBits-p)>>priceShift] }

func bitPrice(p prob, b uint32) uint32 {
	if b == 0 {
		return price0(p)
	}
	return price1(p)
}

func treePrice(ps []prob, v uint32, n int) uint32 {
	var s uint32
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		b := v >> uint(i) & 1
		s += bitPrice(ps[m], b)
		m = m<<1 | b
	}
	return s
}

func reverseTreePrice(ps []prob, v uint32, n int) uint32 {
	var s uint32
	m := uint32(1)
	for i := 0; i < n; i++ {
		b := v & 1
		v >>= 1
		s += bitPrice(ps[m], b)
		m = m<<1 | b
	}
	return s
}

// lzmaPrices caches the prices of lengths and distances under the model's
// probabilities when they were last refreshed.
type lzmaPrices struct {
	matchLen, repLen [1 << lzmaPosBitsMax][lzmaMaxLen + 1]uint32
	slot             [lzmaLenStates][1 << lzmaSlotBits]uint32
	dist             [lzmaLenStates][lzmaFullDist]uint32
	align            [1 << lzmaAlignBits]uint32
}

func lenPrices(dst *[lzmaMaxLen + 1]uint32, l *lenModel, posState int) {
	c0, c1 := price0(l.choice), price1(l.choice)
	m0, m1 := c1+price0(l.choice2), c1+price1(l.choice2)
	for n := lzmaMinLen; n <= lzmaMaxLen; n++ {
		v := uint32(n - lzmaMinLen)
		switch {
		case v < lzmaLenLow:
			dst[n] = c0 + treePrice(l.low[posState][:], v, lzmaLenLowBits)
		case v < lzmaLenLow+lzmaLenMid:
			dst[n] = m0 + treePrice(l.mid[posState][:], v-lzmaLenLow, lzmaLenMidBits)
		default:
			dst[n] = m1 + treePrice(l.high[:], v-lzmaLenLow-lzmaLenMid, lzmaLenHighBits)
		}
	}
}

func (p *lzmaPrices) refresh(m *lzmaModel) {
	for ps := 0; ps < 1<<m.props.pb; ps++ {
		lenPrices(&p.matchLen[ps], &m.matchLen, ps)
		lenPrices(&p.repLen[ps], &m.repLen, ps)
	}
	for i := range p.align {
		p.align[i] = reverseTreePrice(m.align[:], uint32(i), lzmaAlignBits)
	}
	for ls := 0; ls < lzmaLenStates; ls++ {
		for s := 0; s < 1<<lzmaSlotBits; s++ {
			p.slot[ls][s] = treePrice(m.slot[ls][:], uint32(s), lzmaSlotBits)
			if s >= lzmaEndPosModel {
				p.slot[ls][s] += uint32((s>>1)-1-lzmaAlignBits) * bitCost
			}
		}
		for d := uint32(0); d < lzmaFullDist; d++ {
			s := distSlot(d)
			pr := p.slot[ls][s]
			if s >= 4 {
				nd := (s >> 1) - 1
				base := (2 | uint32(s)&1) << uint(nd)
				pr += reverseTreePrice(m.specPos[base-uint32(s):], d-base, nd)
			}
			p.dist[ls][d] = pr
		}
	}
}

// distPrice is the price of distance d (0-based) for a match of length l.
func (p *lzmaPrices) distPrice(d uint32, l int) uint32 {
	ls := lenState(l)
	if d < lzmaFullDist {
		return p.dist[ls][d]
	}
	return p.slot[ls][distSlot(d)] + p.align[d&(1<<lzmaAlignBits-1)]
}
