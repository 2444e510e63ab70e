package verify_test

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// keylessSig signs data with an in-process fake Fulcio, Rekor and TSA and returns the
// Sigstore bundle JSON a real keyless signer would produce (certificate, Rekor entry
// with its signed entry timestamp, RFC 3161 timestamp).
func keylessSig(t *testing.T, vs *ca.VirtualSigstore, identity, issuer string, data []byte) []byte {
	t.Helper()
	ent, err := vs.Sign(identity, issuer, data)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	ms := sc.MessageSignatureContent()
	entries, _ := ent.TlogEntries()
	tss, _ := ent.Timestamps()
	var tles []*protorekor.TransparencyLogEntry
	for _, e := range entries {
		tle := proto.Clone(e.TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
		set, err := vs.RekorSignPayload(tlog.RekorPayload{
			Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
			IntegratedTime: tle.IntegratedTime,
			LogIndex:       tle.LogIndex,
			LogID:          hex.EncodeToString(tle.LogId.KeyId),
		})
		if err != nil {
			t.Fatal(err)
		}
		tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
		tle.KindVersion = &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"}
		tles = append(tles, tle)
	}
	tvd := &protobundle.TimestampVerificationData{}
	for _, ts := range tss {
		tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries:               tles,
			TimestampVerificationData: tvd,
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}},
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyless(t *testing.T) {
	t.Parallel()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const alice, bob, issuer = "alice@example.com", "bob@example.com", "https://issuer.example.com"
	f := newFixture(t, "x\n", nil)
	m := reader(t, f.data).ManifestBytes()
	fb := newFixture(t, "y\n", nil)
	mb := reader(t, fb.data).ManifestBytes()
	k1, pub1 := newKey(t, "k1")

	exact := []verify.Identity{{Subject: alice, Issuer: issuer}}
	both := []verify.Identity{{SubjectRegexp: `^(alice|bob)@example\.com$`, Issuer: issuer}}
	tests := []struct {
		name string
		sigs [][]byte
		p    *verify.Policy
		want string
	}{
		{"alice", [][]byte{keylessSig(t, vs, alice, issuer, m)}, &verify.Policy{Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true}, "ok"},
		{"wrong identity", [][]byte{keylessSig(t, vs, bob, issuer, m)}, &verify.Policy{Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true}, "failed signatures"},
		{"wrong issuer", [][]byte{keylessSig(t, vs, alice, "https://evil.example.com", m)}, &verify.Policy{Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true}, "failed signatures"},
		{"untrusted CA", [][]byte{keylessSig(t, other, alice, issuer, m)}, &verify.Policy{Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true}, "failed signatures"},
		{"copied from another bundle", [][]byte{keylessSig(t, vs, alice, issuer, mb)}, &verify.Policy{Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true}, "failed signatures"},
		{"alice and bob, 2 of 2", [][]byte{keylessSig(t, vs, alice, issuer, m), keylessSig(t, vs, bob, issuer, m)}, &verify.Policy{Identities: both, TrustedRoot: vs, InsecureIgnoreSCT: true, Threshold: 2}, "ok"},
		{"alice twice counts once", [][]byte{keylessSig(t, vs, alice, issuer, m), keylessSig(t, vs, alice, issuer, m)}, &verify.Policy{Identities: both, TrustedRoot: vs, InsecureIgnoreSCT: true, Threshold: 2}, "failed signatures"},
		{"key plus identity", [][]byte{keylessSig(t, vs, alice, issuer, m), mustSign(t, k1, m)}, &verify.Policy{Keys: []verify.TrustedKey{pub1}, Identities: exact, TrustedRoot: vs, InsecureIgnoreSCT: true, Threshold: 2}, "ok"},
		{"keyless but policy trusts keys only", [][]byte{keylessSig(t, vs, alice, issuer, m)}, &verify.Policy{Keys: []verify.TrustedKey{pub1}}, "failed signatures"},
	}
	// VirtualSigstore's certificates carry no SCT: without the opt-out they are refused.
	tests = append(tests, struct {
		name string
		sigs [][]byte
		p    *verify.Policy
		want string
	}{"no SCT", [][]byte{keylessSig(t, vs, alice, issuer, m)}, &verify.Policy{Identities: exact, TrustedRoot: vs}, "failed signatures"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := verifyData(withSigs(t, f.data, tc.sigs), tc.p, nil)
			if got := outcome(err); got != tc.want {
				t.Fatalf("got %q, want %q (%v)", got, tc.want, err)
			}
			if tc.want == "ok" {
				s := rep.Signers[0]
				if s.Kind != "keyless" || s.Identity != alice || s.Issuer != issuer || s.SignedAt == "" {
					t.Fatalf("signer %+v", s)
				}
			}
		})
	}
}

func mustSign(t *testing.T, k *sign.Key, data []byte) []byte {
	t.Helper()
	sig, err := k.Sign(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestKeylessPolicyFile runs the keyless path the CLI uses: a policy file naming an
// identity and a trusted_root.json on disk (here the fake Sigstore's, written out).
func TestKeylessPolicyFile(t *testing.T) {
	t.Parallel()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	js := trustedRootJSON(t, vs)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := verify.ParsePolicy([]byte(`
identities:
  - subject_regexp: '^[a-z]+@example\.com$'
    issuer: https://issuer.example.com
trusted_root: trusted_root.json
insecure_ignore_sct: true
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "x\n", nil)
	m := reader(t, f.data).ManifestBytes()
	good := withSigs(t, f.data, [][]byte{keylessSig(t, vs, "alice@example.com", "https://issuer.example.com", m)})
	rep, err := verifyData(good, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Signers[0]; s.Identity != "alice@example.com" || !s.Trusted {
		t.Fatalf("signer %+v", s)
	}
	bad := withSigs(t, f.data, [][]byte{keylessSig(t, vs, "mallory@evil.example", "https://issuer.example.com", m)})
	if _, err := verifyData(bad, p, nil); outcome(err) != "failed signatures" {
		t.Fatalf("untrusted identity: %v", err)
	}
}

// TestGenerateKeylessVector writes the keyless test vector used by
// cmd/patchkit/testdata/script/verify_keyless.txtar: with PATCHKIT_GEN_KEYLESS=DIR it
// signs DIR/manifest.json as alice@example.com with a fresh fake Sigstore and writes
// DIR/alice.sigstore.json, DIR/mallory.sigstore.json and DIR/trusted_root.json.
func TestGenerateKeylessVector(t *testing.T) {
	dir := os.Getenv("PATCHKIT_GEN_KEYLESS")
	if dir == "" {
		t.Skip("set PATCHKIT_GEN_KEYLESS to regenerate the keyless script vector")
	}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"alice.sigstore.json":   keylessSig(t, vs, "alice@example.com", "https://issuer.example.com", m),
		"mallory.sigstore.json": keylessSig(t, vs, "mallory@example.net", "https://issuer.example.com", m),
		"trusted_root.json":     trustedRootJSON(t, vs),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// trustedRootJSON writes vs's CAs, logs and TSA as a trusted_root.json.
func trustedRootJSON(t *testing.T, vs *ca.VirtualSigstore) []byte {
	t.Helper()
	// VirtualSigstore keys its logs by hex ID but stores the hex text as the raw ID;
	// a trusted_root.json holds raw IDs.
	rawIDs := func(logs map[string]*sgroot.TransparencyLog) map[string]*sgroot.TransparencyLog {
		out := map[string]*sgroot.TransparencyLog{}
		for id, l := range logs {
			c := *l
			c.ID, _ = hex.DecodeString(id)
			out[id] = &c
		}
		return out
	}
	tr, err := sgroot.NewTrustedRoot(sgroot.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(),
		rawIDs(vs.CTLogs()), vs.TimestampingAuthorities(), rawIDs(vs.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	js, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return js
}
