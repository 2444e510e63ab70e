package delta

// parse codes the cheapest path from pos over at most lzmaOptSpan bytes (see
// lzmaenc.go) and returns the position it ends at.
func (e *lzmaEncoder) parse(pos int) int {
	if e.coded >= lzmaRefresh {
		e.pr.refresh(e.m)
		e.coded = 0
	}
	d := e.data
	opt := e.opt
	opt[0] = optNode{state: int8(e.state), reps: e.reps}
	lenEnd := 0
	var long lzMatch // a match of e.nice bytes or more ends the window
	longRep := -1    // or the repeated distance it uses
	cur := 0
	for ; ; cur++ {
		if cur > 0 {
			if cur >= lenEnd || cur >= lzmaOptSpan {
				break
			}
			e.enter(cur)
		}
		p := pos + cur
		if p >= len(d) {
			break
		}
		matches := e.mf.find(p, true)
		// A long repeat or match ends the window here.
		n := &opt[cur]
		avail := min(len(d)-p, lzmaMaxLen)
		repLens := [4]int{}
		for k, r := range n.reps {
			if int(r) < p {
				repLens[k] = matchLen(d[p-int(r)-1:p-int(r)-1+avail], d[p:p+avail])
			}
			if repLens[k] >= e.nice && repLens[k] > long.len {
				long, longRep = lzMatch{repLens[k], r}, k
			}
		}
		if long.len == 0 && len(matches) > 0 && matches[len(matches)-1].len >= e.nice {
			mt := matches[len(matches)-1]
			s := p - int(mt.dist) - 1
			long = lzMatch{matchLen(d[s:s+avail], d[p:p+avail]), mt.dist}
		}
		if long.len > 0 {
			break
		}
		lenEnd = e.expand(cur, p, matches, repLens, lenEnd)
	}
	// The window ends at cur, a reached node (every node before lenEnd
	// is: each one offers a literal to the next). Follow the path back
	// from it, then code it forwards.
	e.path = e.path[:0]
	for i := int32(cur); i > 0; i = opt[i].prev {
		e.path = append(e.path, i)
	}
	at := pos
	for j := len(e.path) - 1; j >= 0; j-- {
		n := &opt[e.path[j]]
		switch {
		case n.kind == optLit:
			e.literal(at)
		case n.kind == optShortRep:
			e.rep(at, 0, 1)
		case n.kind == optMatch:
			e.match(at, n.dist, int(n.len))
		default:
			e.rep(at, int(n.kind-optRep), int(n.len))
		}
		at += int(n.len)
		e.coded++
	}
	if long.len > 0 {
		if longRep >= 0 {
			e.rep(at, longRep, long.len)
		} else {
			e.match(at, long.dist, long.len)
		}
		e.coded++
		for i := 1; i < long.len; i++ {
			e.mf.find(at+i, false)
		}
		at += long.len
	}
	return at
}

// enter sets the state and distances of node cur from the step that
// reaches it.
func (e *lzmaEncoder) enter(cur int) {
	n := &e.opt[cur]
	p := &e.opt[n.prev]
	s := int(p.state)
	switch {
	case n.kind == optLit:
		n.state, n.reps = int8(stateLit(s)), p.reps
	case n.kind == optShortRep:
		n.state, n.reps = int8(stateShortRep(s)), p.reps
	case n.kind == optMatch:
		n.state = int8(stateMatch(s))
		n.reps = [4]uint32{n.dist, p.reps[0], p.reps[1], p.reps[2]}
	default:
		n.state, n.reps = int8(stateRep(s)), repsAfter(p.reps, int(n.kind-optRep))
	}
}

// relax offers node i the price of reaching it by a step; nodes past lenEnd
// start unreached.
func (e *lzmaEncoder) relax(i int, price uint32, prev, n int, kind int8, dist uint32, lenEnd *int) {
	for *lenEnd < i {
		*lenEnd++
		e.opt[*lenEnd].price = infPrice
	}
	o := &e.opt[i]
	if price < o.price {
		o.price, o.prev, o.len, o.kind, o.dist = price, int32(prev), int32(n), kind, dist
	}
}

// expand offers every step from node cur (at position p) and returns the new
// end of the reached nodes.
func (e *lzmaEncoder) expand(cur, p int, matches []lzMatch, repLens [4]int, lenEnd int) int {
	d, m, pr := e.data, e.m, &e.pr
	n := &e.opt[cur]
	st := int(n.state)
	posState := p & e.pbMask
	base := n.price

	// A literal.
	var prev byte
	if p > 0 {
		prev = d[p-1]
	}
	lp := base + price0(m.isMatch[st<<lzmaPosBitsMax+posState]) +
		e.literalPrice(m.litProbs(p, prev), d[p], st, n.reps[0], p)
	e.relax(cur+1, lp, cur, 1, optLit, 0, &lenEnd)

	mp := base + price1(m.isMatch[st<<lzmaPosBitsMax+posState])
	rp := mp + price1(m.isRep[st])

	// The last distance for one byte.
	if r := int(n.reps[0]); r < p && d[p] == d[p-r-1] {
		sp := rp + price0(m.isRepG0[st]) + price0(m.isRep0Long[st<<lzmaPosBitsMax+posState])
		e.relax(cur+1, sp, cur, 1, optShortRep, 0, &lenEnd)
	}

	// The repeated distances, every length.
	for k, l := range repLens {
		if l < lzmaMinLen {
			continue
		}
		var kp uint32
		switch k {
		case 0:
			kp = price0(m.isRepG0[st]) + price1(m.isRep0Long[st<<lzmaPosBitsMax+posState])
		case 1:
			kp = price1(m.isRepG0[st]) + price0(m.isRepG1[st])
		default:
			kp = price1(m.isRepG0[st]) + price1(m.isRepG1[st]) + bitPrice(m.isRepG2[st], uint32(k-2))
		}
		kp += rp
		lens := &pr.repLen[posState]
		for j := lzmaMinLen; j <= l; j++ {
			e.relax(cur+j, kp+lens[j], cur, j, int8(optRep+k), 0, &lenEnd)
		}
	}

	// New distances: each length at the nearest distance that reaches it;
	// lengths the last distance covers are left to it.
	np := mp + price0(m.isRep[st])
	lens := &pr.matchLen[posState]
	j := max(lzmaMinLen, repLens[0]+1)
	for _, mt := range matches {
		for ; j <= mt.len; j++ {
			e.relax(cur+j, np+lens[j]+pr.distPrice(mt.dist, j), cur, j, optMatch, mt.dist, &lenEnd)
		}
	}
	return lenEnd
}

// literalPrice is the price of byte b at position p after state st (against
// the byte at distance rep0 after a match).
func (e *lzmaEncoder) literalPrice(ps []prob, b byte, st int, rep0 uint32, p int) uint32 {
	v := uint32(b)
	if st < lzmaLitStates {
		return treePrice(ps, v, 8)
	}
	mb := uint32(e.data[p-int(rep0)-1])
	off, sym := uint32(0x100), uint32(1)
	var s uint32
	for i := 7; i >= 0; i-- {
		bit := v >> uint(i) & 1
		mb <<= 1
		mbit := mb & off
		s += bitPrice(ps[off+mbit+sym], bit)
		sym = sym<<1 | bit
		if bit != 0 {
			off &= mbit
		} else {
			off &^= mbit
		}
	}
	return s
}
