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

	"github.com/patchkit/patchkit/internal/atomicfile"
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
	if len(b) < 4 || string(b[:3]) != "PKD" || b[3] != 1 {
		return fmt.Errorf("%s: not a pkdelta1 patch", args[0])
	}
	p := 4
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b[p:])
		if n <= 0 {
			bad, n = true, len(b)-p
		}
		p += n
		return v
	}
	// take returns the next n bytes, or nil when the patch is shorter.
	take := func(n uint64) []byte {
		if bad || n > uint64(len(b)-p) {
			bad = true
			return nil
		}
		s := b[p : p+int(n)]
		p += int(n)
		return s
	}
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
			rl := h >> 1
			if h&1 == 1 {
				c := take(uv())
				if bad {
					break
				}
				raw[i] += int(rl)
				comp[i] += len(c)
				if len(args) == 2 {
					d, err := dec.DecodeAll(c, nil)
					if err != nil {
						return fmt.Errorf("segment %d, %s stream: %w", segs, names[i], err)
					}
					dump[i] = append(dump[i], d...)
				}
			} else {
				c := take(rl)
				if bad {
					break
				}
				raw[i] += len(c)
				comp[i] += len(c)
				dump[i] = append(dump[i], c...)
			}
		}
		if bad {
			return fmt.Errorf("%s: truncated or malformed in segment %d", args[0], segs)
		}
	}
	fmt.Printf("old %d new %d segments %d patch %d\n", oldSize, newSize, segs, len(b))
	for i, n := range names {
		fmt.Printf("%-6s raw %11d comp %11d\n", n, raw[i], comp[i])
		if len(args) == 2 {
			if err := atomicfile.WriteFile(filepath.Join(args[1], n+".raw"), dump[i], 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
