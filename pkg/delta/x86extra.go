package delta

import "encoding/binary"

// Targets in the extra stream (flag 0x10, docs/delta.md). The literal bytes
// of a browser update are mostly new code, whose rel32 and disp32 fields
// are relative to their own position: calls to one function from many new
// places are as many different byte strings. Written as targets (new file
// offsets) they repeat, and LZMA finds them: 7.6 % less extra stream on the
// Chromium update. The fields are found as the x86 predictor finds them in
// old (fieldAfter), here in the new bytes themselves.

// maxTargetsFile is the largest new file whose extra fields are written as
// targets: targets and displacements must both fit an int32.
const maxTargetsFile = 1 << 31

// toTarget turns the displacement v of a field ending at q, in a file of
// size n (q ≤ n ≤ maxTargetsFile), into its stored form, one to one on the
// int32s: a target in the file, q+v in [0, n), is stored as itself; the
// displacements that would be read back as such a target, v in [n-q, n),
// go to the values [-q, 0) no target takes; every other v is kept.
func toTarget(v, q, n int64) int64 {
	switch {
	case v >= -q && v < n-q:
		return v + q
	case v >= n-q && v < n:
		return v - n
	}
	return v
}

// fromTarget inverts toTarget.
func fromTarget(w, q, n int64) int64 {
	switch {
	case w >= 0 && w < n:
		return w - q
	case w >= -q && w < 0:
		return w + n
	}
	return w
}

// rewriteFields writes into dst the bytes of src, extra bytes at new
// offset at of a file of size n, with each code field v, ending at q,
// replaced by f(v, q, n): toTarget to write targets, fromTarget to read
// them back. Fields are found in src from its third byte, as predict finds
// them in code, and must end in src. Reading back, src is dst, rewritten
// from the left: the bytes that say whether a field follows are restored
// by then, so it finds the fields the writer found.
func rewriteFields(dst, src []byte, at, n int64, f func(v, q, n int64) int64) {
	dst = dst[:len(src)]
	for k := 2; k+4 <= len(src); k++ {
		if fieldAfter[uint(src[k-2])<<8|uint(src[k-1])] != 0 {
			v := int64(int32(binary.LittleEndian.Uint32(src[k:])))
			binary.LittleEndian.PutUint32(dst[k:], uint32(f(v, at+int64(k)+4, n)))
			k += 3
		}
	}
}

// targets writes the code fields of g's extra bytes, copies of nw's, in
// target form, and flags the segment.
func (g *segment) targets(nw []byte) {
	e, pos := g.s[stExtra], g.newPos
	for _, o := range g.ops {
		pos += o.add
		rewriteFields(e, nw[pos:pos+o.extra], int64(pos), int64(len(nw)), toTarget)
		e = e[o.extra:]
		pos += o.extra
	}
	g.flags |= flagTargets
}
