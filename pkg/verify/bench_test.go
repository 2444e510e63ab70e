package verify_test

import (
	"bytes"
	"crypto/sha256"
	"github.com/patchkit/patchkit/internal/testcorpus"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"
)

// BenchmarkCorpusVerify measures verify on the WebKitGTK pair (2-of-2 ECDSA keys): the
// manifest and payload checks alone, and with the base tree (every target rebuilt and
// hashed). Compare with hashing both trees: BenchmarkCorpusHashTrees. PAIR=libssl3
// measures the libssl3 pair instead.
func BenchmarkCorpusVerify(b *testing.B) {
	base, target := webkitPair(b)
	var buf bytes.Buffer
	if _, err := bundle.Create(ctx, &buf, &bundle.CreateOptions{
		Label: "x", Sequence: 1,
		Components: []bundle.Source{{Name: "x", BaseVersion: "1", BaseDir: base, TargetDir: target}},
	}); err != nil {
		b.Fatal(err)
	}
	k1, pub1 := newKey(b, "k1")
	k2, pub2 := newKey(b, "k2")
	data := signWith(b, buf.Bytes(), k1, k2)
	p := &verify.Policy{Keys: []verify.TrustedKey{pub1, pub2}, Threshold: 2}
	for _, tc := range []struct {
		name string
		o    *verify.Options
	}{{"plain", nil}, {"base", &verify.Options{BaseDir: base}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := verifyData(data, p, tc.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCorpusHashTrees(b *testing.B) {
	base, target := webkitPair(b)
	for b.Loop() {
		for _, dir := range []string{base, target} {
			filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					f, err := os.Open(p)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(sha256.New(), f)
					f.Close()
				}
				return nil
			})
		}
	}
}

func webkitPair(b *testing.B) (string, string) {
	trees := testcorpus.Trees(b, "webkit2gtk", "2.50.6-1~deb12u1", "2.50.6-1~deb12u2")
	if os.Getenv("PAIR") == "libssl3" {
		trees = testcorpus.Trees(b, "libssl3", "3.0.17-1~deb12u2", "3.0.22-1~deb12u2")
	}
	return trees[0], trees[1]
}
