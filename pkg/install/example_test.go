package install_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/verify"
)

// Open a target tree, apply a bundle, look at the state, and remove it again.
func Example() {
	dir, _ := os.MkdirTemp("", "patchkit-example")
	defer os.RemoveAll(dir)
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)
	}
	write("base/lib/libfoo.so", "version one\n")
	write("target/lib/libfoo.so", "version two\n")
	write("root/lib/libfoo.so", "version one\n") // the machine's tree: the base

	// A bundle from base to target (normally built by "patchkit create" and signed).
	var pkb bytes.Buffer
	_, err := bundle.Create(context.Background(), &pkb, &bundle.CreateOptions{Label: "1.1 (a)", Sequence: 1,
		Components: []bundle.Source{{Name: "foo", BaseVersion: "1.0", BaseDir: filepath.Join(dir, "base"), TargetDir: filepath.Join(dir, "target")}}})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	t, err := install.Open(ctx, filepath.Join(dir, "root"), nil) // locks, recovers a crash
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	r, err := bundle.NewReader(bytes.NewReader(pkb.Bytes()))
	if err != nil {
		log.Fatal(err)
	}
	// The VerifyFunc decides what may be installed. A real one checks signatures:
	// verify.Manifest(ctx, manifest, sigs, policy, &verify.Options{Floors: floors, ...}).
	// This unsigned example keeps only the target's floors and recall list.
	check := func(ctx context.Context, manifest []byte, sigs []bundle.Signature, floors map[string]int64, rc *install.Recall) error {
		return verify.Rules(manifest, nil, &verify.Options{Floors: floors})
	}
	res, err := t.Apply(ctx, r, check)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s: %d paths switched, %d proven\n", res.Op, res.ID, res.Changed, res.Proven)
	b, _ := os.ReadFile(filepath.Join(dir, "root/lib/libfoo.so"))
	fmt.Printf("lib/libfoo.so: %s", b)
	fmt.Println("drift:", len(t.Check()))

	res, err = t.Remove(ctx, "foo-1")
	if err != nil {
		log.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "root/lib/libfoo.so"))
	fmt.Printf("%s %s: lib/libfoo.so: %s", res.Op, res.ID, b)
	fmt.Println("floor of foo:", t.State().Floors["foo"])
	// Output:
	// apply foo-1: 1 paths switched, 1 proven
	// lib/libfoo.so: version two
	// drift: 0
	// remove foo-1: lib/libfoo.so: version one
	// floor of foo: 1
}
