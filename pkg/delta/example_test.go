package delta_test

import (
	"bytes"
	"fmt"

	"github.com/patchkit/patchkit/pkg/delta"
)

func Example() {
	old := []byte("libfoo 1.0: the quick brown fox jumps over the lazy dog")
	nw := []byte("libfoo 1.1: the quick brown fox jumps over the lazy cat")
	patch, err := delta.Diff(old, nw)
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	if err := delta.Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(nw))); err != nil {
		panic(err)
	}
	fmt.Println(out.String())
	fmt.Println(delta.Codec)
	// Output:
	// libfoo 1.1: the quick brown fox jumps over the lazy cat
	// pkdelta1
}
