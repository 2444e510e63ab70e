package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// Verify a bundle against a policy that trusts one key. The first part makes a tiny
// bundle (an empty base, a target with one file) and signs it with a new key.
func ExampleBundle() {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "verify-example")
	check(err)
	defer os.RemoveAll(dir)
	base, target := filepath.Join(dir, "base"), filepath.Join(dir, "target")
	check(os.MkdirAll(base, 0o755))
	check(os.MkdirAll(target, 0o755))
	check(os.WriteFile(filepath.Join(target, "fix.txt"), []byte("fixed\n"), 0o644))
	var unsigned bytes.Buffer
	_, err = bundle.Create(ctx, &unsigned, &bundle.CreateOptions{Label: "1.0 (a)", Sequence: 1,
		Components: []bundle.Source{{Name: "demo", BaseVersion: "1.0", BaseDir: base, TargetDir: target}}})
	check(err)
	priv, err := sign.GenerateKey(sign.ECDSAP256)
	check(err)
	key, err := sign.NewKey("release", priv)
	check(err)
	r, err := bundle.NewReader(bytes.NewReader(unsigned.Bytes()))
	check(err)
	sig, err := key.Sign(ctx, r.ManifestBytes())
	check(err)
	var signed bytes.Buffer // the signature goes after the manifest, payloads as they are
	w, err := bundle.NewWriter(&signed, r.ManifestBytes(), [][]byte{sig})
	check(err)
	for e, err := r.Next(); err != io.EOF; e, err = r.Next() {
		check(err)
		check(w.WritePayload(e))
	}
	check(w.Close())

	// Verify it: the policy trusts the key's public half; with BaseDir, every payload is
	// also applied to the base tree and the result checked.
	fp, err := sign.Fingerprint(key.Public())
	check(err)
	policy := &verify.Policy{Keys: []verify.TrustedKey{{Name: "release", Public: key.Public(), Fingerprint: fp}}}
	r, err = bundle.NewReader(bytes.NewReader(signed.Bytes()))
	check(err)
	rep, err := verify.Bundle(ctx, r, policy, &verify.Options{BaseDir: base})
	check(err)
	fmt.Println(rep.OK, rep.Label, rep.Trusted)

	// The unsigned bundle is refused.
	r, err = bundle.NewReader(bytes.NewReader(unsigned.Bytes()))
	check(err)
	_, err = verify.Bundle(ctx, r, policy, nil)
	fmt.Println(err)
	// Output:
	// true 1.0 (a) 1
	// verification failed: signatures: the bundle is not signed
}

// The signed text of a recall list: canonical JSON, entries sorted by digest.
func ExampleMarshalRecallDocument() {
	doc, err := verify.MarshalRecallDocument(&verify.RecallDocument{
		Sequence: 4,
		Issued:   "2026-05-28T20:26:40Z",
		NotAfter: "2026-08-26T20:26:40Z",
		Entries: []verify.RecallEntry{
			{Digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Reason: "superseded & broken"},
			{Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Reason: "breaks TLS <1.3"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(doc))
	// Output:
	// {"entries":[{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","reason":"breaks TLS <1.3"},{"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","reason":"superseded & broken"}],"issued":"2026-05-28T20:26:40Z","not_after":"2026-08-26T20:26:40Z","sequence":4,"type":"patchkit.recall/v1"}
}

// A policy in YAML; relative key paths resolve from the policy's directory.
func ExampleParsePolicy() {
	_, err := verify.ParsePolicy([]byte("keys: [{path: release.pub}]\nthreshhold: 2\n"), ".")
	fmt.Println(err)
	// Output:
	// error unmarshaling JSON: while decoding JSON: json: unknown field "threshhold"
}
