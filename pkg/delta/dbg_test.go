package delta
import ("testing";"os";"fmt";"bytes")
func TestDbgSections(t *testing.T) {
	o, _ := os.ReadFile(os.Getenv("OLD")); n, _ := os.ReadFile(os.Getenv("NEW"))
	ops := plan(o, n)
	g := &segment{}
	oldPos, newPos := 0, 0
	for _, op := range ops {
		end := newPos+op.add
		for newPos < end { k := g.run(o[oldPos:oldPos+end-newPos], n[newPos:end]); newPos += k; oldPos += k }
		g.s[stExtra] = append(g.s[stExtra], n[newPos:newPos+op.extra]...)
		newPos += op.extra; oldPos += op.seek
		g.ctrl(op.add, op.extra, op.seek)
	}
	g.x86(o, n, loadSegs(bytes.NewReader(o), int64(len(o))))
	// walk runs to find literal positions (new offsets)
	m := buildMap(g.s[stCtrl], 0, 0, int64(len(o)), int64(len(n)))
	_ = m
	r := g.s[stRuns]
	newPos = 0
	f, _ := os.Create("/tmp/lits.txt")
	for _, op := range g.ops {
		left := op.add
		for left > 0 {
			z, _ := take(&r); l, _ := take(&r)
			newPos += int(z)
			if l > 0 { fmt.Fprintf(f, "%d %d\n", newPos, l) }
			newPos += int(l); left -= int(z+l)
		}
		newPos += op.extra
	}
	f.Close()
	e, _ := encoder()
	fmt.Println("ops", len(g.ops), "ctrl", len(e.EncodeAll(g.s[0],nil)), "runs", len(g.s[1]), len(e.EncodeAll(g.s[1],nil)), "diff", len(g.s[2]), len(e.EncodeAll(g.s[2],nil)), "extra", len(g.s[3]), len(e.EncodeAll(g.s[3],nil)))
}

func TestDbgRip(t *testing.T) {
	o, _ := os.ReadFile(os.Getenv("OLD")); n, _ := os.ReadFile(os.Getenv("NEW"))
	ops := plan(o, n)
	segs := loadSegs(bytes.NewReader(o), int64(len(o)))
	fmt.Println("segs", segs)
	g := &segment{}
	for _, op := range ops { g.ctrl(op.add, op.extra, op.seek) }
	m := buildMap(g.s[stCtrl], 0, 0, int64(len(o)), int64(len(n)))
	for _, e := range m { fmt.Printf("map %x-%x d=%d\n", e.start, e.end, e.d) }
	fmt.Println(ops)
	for _, p := range []int{129043, 129919, 130192, 130510, 132567, 132588} {
		pos := int64(p)
		// find op containing new pos
		oldPos, newPos := int64(0), int64(0)
		for _, op := range ops {
			if pos >= newPos && pos < newPos+int64(op.add) {
				j := oldPos + pos - newPos
				v := int32(uint32(o[j])|uint32(o[j+1])<<8|uint32(o[j+2])<<16|uint32(o[j+3])<<24)
				v2 := int32(uint32(n[pos])|uint32(n[pos+1])<<8|uint32(n[pos+2])<<16|uint32(n[pos+3])<<24)
				tv := vaddr(segs, j)+4+int64(v)
				tf := fileOff(segs, tv)
				dt, ok := m.delta(tf)
				fmt.Printf("new %x old %x v=%x v2=%x tv=%x tf=%x dt=%d ok=%v dcur=%d pred=%x\n", pos, j, v, v2, tv, tf, dt, ok, newPos-oldPos, v+int32(dt-(newPos-oldPos)))
			}
			oldPos += int64(op.add+op.seek); newPos += int64(op.add+op.extra)
		}
	}
}
