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
	g.x86(o, n, readELF(bytes.NewReader(o), int64(len(o))))
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
