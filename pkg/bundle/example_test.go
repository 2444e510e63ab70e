package bundle_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// trees writes a base and a target tree (path → content) into a new temporary
// directory; remove it when done.
func trees(baseFiles, targetFiles map[string]string) (dir, base, target string) {
	dir, err := os.MkdirTemp("", "bundle-example")
	if err != nil {
		log.Fatal(err)
	}
	base, target = filepath.Join(dir, "base"), filepath.Join(dir, "target")
	for root, files := range map[string]map[string]string{base: baseFiles, target: targetFiles} {
		for name, content := range files {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				log.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				log.Fatal(err)
			}
		}
	}
	return dir, base, target
}

// Create compares a base tree and a target tree; the manifest lists what changes.
func ExampleCreate() {
	dir, base, target := trees(
		map[string]string{"lib/libdemo.so.1": "old code", "etc/old.conf": "x"},
		map[string]string{"lib/libdemo.so.1": "new code", "etc/new.conf": "y"})
	defer os.RemoveAll(dir)

	var pkb bytes.Buffer
	m, err := bundle.Create(context.Background(), &pkb, &bundle.CreateOptions{
		Label: "1.0 (a)", Sequence: 1,
		Components: []bundle.Source{{Name: "demo", BaseVersion: "1.0", BaseDir: base, TargetDir: target}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range m.Files {
		codec := "-"
		if f.Payload != nil {
			codec = f.Payload.Codec
		}
		fmt.Println(f.Op, f.Path, codec)
	}
	// Output:
	// add etc/new.conf zstd
	// delete etc/old.conf -
	// replace lib/libdemo.so.1 zstd
}

// A Reader yields the manifest and signatures first, then each payload, checked against
// the manifest's digest as it is read; Decode produces the target content.
func ExampleNewReader() {
	dir, base, target := trees(map[string]string{"README": "v1\n"}, map[string]string{"README": "v2\n"})
	defer os.RemoveAll(dir)
	var pkb bytes.Buffer
	if _, err := bundle.Create(context.Background(), &pkb, &bundle.CreateOptions{
		Label: "1.0 (a)", Sequence: 1,
		Components: []bundle.Source{{Name: "demo", BaseVersion: "1.0", BaseDir: base, TargetDir: target}},
	}); err != nil {
		log.Fatal(err)
	}

	r, err := bundle.NewReader(bytes.NewReader(pkb.Bytes()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Manifest().Label, len(r.Signatures()), "signatures")
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		var content bytes.Buffer
		if err := e.Decode(&content, nil); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %q\n", e.Member, content.String())
	}
	// Output:
	// 1.0 (a) 0 signatures
	// payloads/README.zst: "v2\n"
}
