// Command vectorgen writes patchkit's threat-model test vectors (package
// internal/vectorgen) into a directory, by default testdata/vectors.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/patchkit/patchkit/internal/vectorgen"
)

func main() {
	out := flag.String("o", "testdata/vectors", "the vector directory to write")
	flag.Parse()
	if err := vectorgen.Generate(*out); err != nil {
		fmt.Fprintf(os.Stderr, "vectorgen: %v\n", err)
		os.Exit(1)
	}
}
