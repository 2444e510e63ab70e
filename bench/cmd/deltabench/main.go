// Command deltabench is the bench harness's front end to pkg/delta:
//
//	deltabench diff OLD NEW PATCH
//	deltabench apply OLD PATCH NEW
//	deltabench stat OLD PATCH [DUMPDIR]
//
// diff and apply exist so that bench/run.sh can time and measure the engine
// as a process, side by side with bsdiff, xdelta3 and zstd. stat prints where
// a patch's bytes go: for each stream kind (docs/delta.md), the decoded and
// the stored bytes over all segments, checked as Apply checks them. With
// DUMPDIR it also writes each kind's decoded bytes, all segments together,
// to DUMPDIR/<kind>.raw, to try other compressors on exactly these streams
// (docs/benchmarks.md).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/internal/hugemem"
	"github.com/patchkit/patchkit/pkg/delta"
)

const usage = "usage: deltabench diff OLD NEW PATCH | deltabench apply OLD PATCH NEW | deltabench stat OLD PATCH [DUMPDIR]"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "deltabench: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 4 && args[0] == "diff":
		old, err := readFile(args[1])
		if err != nil {
			return err
		}
		nw, err := readFile(args[2])
		if err != nil {
			return err
		}
		patch, err := delta.Diff(old, nw)
		if err != nil {
			return err
		}
		return os.WriteFile(args[3], patch, 0o644)
	case len(args) == 4 && args[0] == "apply":
		return apply(args[1], args[2], args[3])
	case (len(args) == 3 || len(args) == 4) && args[0] == "stat":
		return stat(args[1], args[2], args[3:])
	}
	return errors.New(usage)
}

// pair is an old file and a patch for it, with the sizes Apply needs.
type pair struct {
	old, patch       *os.File
	oldSize, newSize int64
}

// open opens old and patch and reads the new size from the patch header,
// leaving the patch at its start.
func open(oldPath, patchPath string) (*pair, error) {
	old, err := os.Open(oldPath)
	if err != nil {
		return nil, err
	}
	st, err := old.Stat()
	if err != nil {
		old.Close()
		return nil, err
	}
	p, err := os.Open(patchPath)
	if err != nil {
		old.Close()
		return nil, err
	}
	_, newSize, err := delta.ReadHeader(bufio.NewReader(p))
	if err == nil {
		_, err = p.Seek(0, 0)
	}
	if err != nil {
		old.Close()
		p.Close()
		return nil, fmt.Errorf("%s: %w", patchPath, err)
	}
	return &pair{old: old, patch: p, oldSize: st.Size(), newSize: newSize}, nil
}

func (p *pair) close() {
	p.old.Close()
	p.patch.Close()
}

func apply(oldPath, patchPath, newPath string) error {
	p, err := open(oldPath, patchPath)
	if err != nil {
		return err
	}
	defer p.close()
	out, err := os.Create(newPath)
	if err != nil {
		return err
	}
	if err := delta.Apply(out, p.old, p.oldSize, p.patch, p.newSize); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func stat(oldPath, patchPath string, dumpDir []string) error {
	p, err := open(oldPath, patchPath)
	if err != nil {
		return err
	}
	defer p.close()
	dump := map[string][]byte{}
	var each func(string, []byte)
	if len(dumpDir) > 0 {
		each = func(name string, raw []byte) { dump[name] = append(dump[name], raw...) }
	}
	streams, err := delta.Streams(p.old, p.oldSize, bufio.NewReader(p.patch), p.newSize, each)
	if err != nil {
		return fmt.Errorf("%s: %w", patchPath, err)
	}
	var stored int64
	for _, s := range streams {
		fmt.Printf("%-9s raw %11d stored %11d\n", s.Name, s.Raw, s.Stored)
		stored += s.Stored
		if each != nil {
			if err := atomicfile.WriteFile(filepath.Join(dumpDir[0], s.Name+".raw"), dump[s.Name], 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("old %d new %d streams %d\n", p.oldSize, p.newSize, stored)
	return nil
}

// readFile reads a whole file into a buffer that may get huge pages, as
// patchkit create reads the files of a bundle.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := hugemem.Make[byte](int(st.Size()))
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
