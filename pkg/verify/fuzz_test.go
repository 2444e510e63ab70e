package verify_test

import (
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// FuzzPolicy: the policy parser never panics on any input.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		"keys: [{pem: x}]\nthreshold: 1\n",
		`{"keys":[{"path":"k.pub"}],"min_sequence":{"a":1},"max_age":"3d"}`,
		"identities: [{subject: a, issuer: b}]\ntrusted_root: r.json\n",
		"recall_lists: [x]\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		verify.ParsePolicy(b, dir)
	})
}

// FuzzRecallList: the recall list parser never panics and never accepts an unsigned list.
func FuzzRecallList(f *testing.F) {
	k, pub := newKey(f, "k")
	d := &verify.RecallDocument{Sequence: 1, Issued: "2026-01-01T00:00:00Z", NotAfter: "2026-04-01T00:00:00Z",
		Entries: []verify.RecallEntry{{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", Reason: "r"}}}
	doc, err := verify.MarshalRecallDocument(d)
	if err != nil {
		f.Fatal(err)
	}
	sig, err := k.Sign(ctx, doc)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := verify.MarshalSignedRecall(doc, [][]byte{sig})
	unsigned, _ := verify.MarshalSignedRecall(doc, nil)
	f.Add(good)
	f.Add(unsigned)
	p := &verify.Policy{Keys: []verify.TrustedKey{pub}}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := verify.ParseRecallList(b, p)
		if err == nil && (l == nil || len(l.Signers) == 0) {
			t.Fatal("accepted a recall list without signers")
		}
	})
}

// FuzzSignatureMember: any signature member content is judged without panicking, and
// the manifest is never accepted on a member that does not verify.
func FuzzSignatureMember(f *testing.F) {
	k, pub := newKey(f, "k")
	fx := newFixture(f, "x\n", nil)
	m := reader(f, fx.data).ManifestBytes()
	sig, err := k.Sign(ctx, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	p := &verify.Policy{Keys: []verify.TrustedKey{pub}}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := verify.Manifest(ctx, m, []bundle.Signature{{Member: "signatures/01.sigstore.json", Data: b}}, p, nil)
		if err == nil && !sign.VerifiesWith(b, m, pub.Public) {
			t.Fatalf("accepted a member that does not verify: %+v", rep)
		}
	})
}
