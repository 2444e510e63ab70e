// Command deltastat prints the stream breakdown of a pkdelta1 patch.
//
//	deltastat PATCH [DUMPDIR]
//
// With DUMPDIR it also writes each stream kind's raw bytes, all segments
// concatenated, to DUMPDIR/<stream>.raw, for trying other compressors on them.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "deltastat: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: deltastat PATCH [DUMPDIR]")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(1<<30))
	if err != nil {
		return err
	}
	p := 4
	uv := func() uint64 { v, n := binary.Uvarint(b[p:]); p += n; return v }
	oldSize, newSize := uv(), uv()
	names := []string{"over", "glob", "ctrl", "runs", "diff", "extra"}
	var raw, comp [6]int
	var dump [6][]byte
	segs := 0
	for p < len(b) {
		flags := b[p]
		p++
		segs++
		for i := range names {
			if i == 0 && flags&2 == 0 || i == 1 && flags&4 == 0 {
				continue
			}
			h := uv()
			rl := int(h >> 1)
			raw[i] += rl
			if h&1 == 1 {
				cl := int(uv())
				comp[i] += cl
				if len(args) == 2 {
					d, err := dec.DecodeAll(b[p:p+cl], nil)
					if err != nil {
						return err
					}
					dump[i] = append(dump[i], d...)
				}
				p += cl
			} else {
				comp[i] += rl
				dump[i] = append(dump[i], b[p:p+rl]...)
				p += rl
			}
		}
	}
	fmt.Printf("old %d new %d segments %d patch %d\n", oldSize, newSize, segs, len(b))
	for i, n := range names {
		fmt.Printf("%-6s raw %11d comp %11d\n", n, raw[i], comp[i])
		if len(args) == 2 {
			if err := os.WriteFile(filepath.Join(args[1], n+".raw"), dump[i], 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
