// Command deltastat prints where a pkdelta1 patch's bytes go:
//
//	deltastat OLD PATCH [DUMPDIR]
//
// For each stream kind (docs/delta.md) it prints the decoded and the stored
// bytes over all segments. It applies the patch to OLD with every check
// Apply makes (discarding the output), so a malformed patch is an error.
// With DUMPDIR it also writes each kind's decoded bytes, all segments
// together, to DUMPDIR/<kind>.raw, to try other compressors on exactly
// these streams (docs/benchmarks.md).
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/pkg/delta"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "deltastat: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("usage: deltastat OLD PATCH [DUMPDIR]")
	}
	old, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer old.Close()
	st, err := old.Stat()
	if err != nil {
		return err
	}
	p, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer p.Close()
	pst, err := p.Stat()
	if err != nil {
		return err
	}
	_, newSize, err := delta.ReadHeader(p)
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	if _, err := p.Seek(0, 0); err != nil {
		return err
	}
	dump := map[string][]byte{}
	var each func(string, []byte)
	if len(args) == 3 {
		each = func(name string, raw []byte) { dump[name] = append(dump[name], raw...) }
	}
	streams, err := delta.Streams(old, st.Size(), bufio.NewReader(p), newSize, each)
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	fmt.Printf("old %d new %d patch %d\n", st.Size(), newSize, pst.Size())
	for _, s := range streams {
		fmt.Printf("%-9s raw %11d stored %11d\n", s.Name, s.Raw, s.Stored)
		if each != nil {
			if err := atomicfile.WriteFile(filepath.Join(args[2], s.Name+".raw"), dump[s.Name], 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
