// Command deltabench is the bench harness's front end to pkg/delta:
//
//	deltabench diff OLD NEW PATCH
//	deltabench apply OLD PATCH NEW
//
// It exists so that bench/run.sh can time and measure the engine as a
// process, side by side with bsdiff, xdelta3 and zstd.
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/patchkit/patchkit/pkg/delta"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "deltabench: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: deltabench diff OLD NEW PATCH | deltabench apply OLD PATCH NEW")
	}
	switch args[0] {
	case "diff":
		old, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		nw, err := os.ReadFile(args[2])
		if err != nil {
			return err
		}
		patch, err := delta.Diff(old, nw)
		if err != nil {
			return err
		}
		return os.WriteFile(args[3], patch, 0o644)
	case "apply":
		return apply(args[1], args[2], args[3])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func apply(oldPath, patchPath, newPath string) error {
	old, err := os.Open(oldPath)
	if err != nil {
		return err
	}
	defer old.Close()
	st, err := old.Stat()
	if err != nil {
		return err
	}
	p, err := os.Open(patchPath)
	if err != nil {
		return err
	}
	defer p.Close()
	_, newSize, err := delta.ReadHeader(bufio.NewReader(p))
	if err != nil {
		return err
	}
	if _, err := p.Seek(0, 0); err != nil {
		return err
	}
	out, err := os.Create(newPath)
	if err != nil {
		return err
	}
	if err := delta.Apply(out, old, st.Size(), p, newSize); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
