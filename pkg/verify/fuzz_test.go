package verify_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// FuzzPolicy: the policy parser never panics, and a policy it accepts validates, keeps
// its limits (a trust source, a threshold its keys can meet, no key twice, no negative
// floor or age) and round-trips: written back as a policy file (keys inline), it parses
// to the same policy.
func FuzzPolicy(f *testing.F) {
	dir := f.TempDir()
	k1, _ := newKey(f, "k1")
	k2, _ := newKey(f, "k2")
	if err := os.WriteFile(filepath.Join(dir, "k1.pub"), pubPEM(f, k1), 0o644); err != nil {
		f.Fatal(err)
	}
	inline, err := json.Marshal(string(pubPEM(f, k2)))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"keys: [{pem: x}]\nthreshold: 1\n",
		`{"keys":[{"path":"k.pub"}],"min_sequence":{"a":1},"max_age":"3d"}`,
		"identities: [{subject: a, issuer: b}]\ntrusted_root: r.json\n",
		"recall_lists: [x]\n",
		"type: patchkit.policy/v1\nkeys: [{name: release, path: k1.pub}]\ncomponents: [demo]\nbase_versions: {demo: [\"1.0\"]}\nmin_sequence: {demo: 5}\nmax_age: 30d\n",
		`{"keys":[{"path":"k1.pub"},{"pem":` + string(inline) + `}],"threshold":2,"recall_threshold":1,"max_age":"72h","insecure_ignore_sct":true}`,
		`{"keys":[{"path":"k1.pub"},{"path":"k1.pub"}]}`,
		`{"keys":[{"path":"k1.pub"}],"threshold":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := verify.ParsePolicy(b, dir)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted a policy that does not validate: %v", err)
		}
		checkPolicyLimits(t, p)
		if p.TrustedRoot != nil || len(p.Recalls) > 0 {
			return // their files are not in dir, so this does not happen
		}
		again, err := verify.ParsePolicy(policyFile(t, p), dir)
		if err != nil {
			t.Fatalf("the accepted policy, written back, is refused: %v\n%s", err, policyFile(t, p))
		}
		if a, b := policyView(p), policyView(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("policy does not round-trip:\n%+v\n%+v", a, b)
		}
	})
}

// checkPolicyLimits checks what Validate promises, without calling it.
func checkPolicyLimits(t *testing.T, p *verify.Policy) {
	t.Helper()
	if len(p.Keys) == 0 && len(p.Identities) == 0 {
		t.Fatal("accepted a policy without a trust source")
	}
	threshold := max(p.Threshold, 1)
	if len(p.Identities) == 0 && threshold > len(p.Keys) {
		t.Fatalf("accepted threshold %d with %d keys", p.Threshold, len(p.Keys))
	}
	seen := map[string]bool{}
	for _, k := range p.Keys {
		if k.Public == nil || seen[k.Fingerprint] {
			t.Fatalf("accepted key %q twice or without a public key", k.Name)
		}
		seen[k.Fingerprint] = true
	}
	for c, s := range p.MinSequence {
		if s < 0 {
			t.Fatalf("accepted a negative min_sequence for %q", c)
		}
	}
	if p.MaxAge < 0 || p.Threshold < 0 || p.RecallThreshold < 0 {
		t.Fatalf("accepted a negative max_age or threshold: %+v", p)
	}
}

// policyFile writes p back as a policy document, its keys as inline PEM.
func policyFile(t *testing.T, p *verify.Policy) []byte {
	t.Helper()
	f := verify.PolicyFile{
		Type: verify.PolicyType, Identities: p.Identities, InsecureIgnoreSCT: p.InsecureIgnoreSCT,
		Threshold: p.Threshold, Components: p.Components, BaseVersions: p.BaseVersions,
		MinSequence: p.MinSequence, RecallThreshold: p.RecallThreshold,
	}
	if p.MaxAge != 0 {
		f.MaxAge = p.MaxAge.String()
	}
	for _, k := range p.Keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			t.Fatal(err)
		}
		f.Keys = append(f.Keys, verify.PolicyKey{Name: k.Name, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// policyView is what a policy decides, in comparable form (empty and nil alike).
func policyView(p *verify.Policy) map[string]any {
	var keys []string
	for _, k := range p.Keys {
		keys = append(keys, k.Name+" "+k.Fingerprint)
	}
	v := map[string]any{
		"threshold": p.Threshold, "recall_threshold": p.RecallThreshold, "max_age": p.MaxAge,
		"insecure_ignore_sct": p.InsecureIgnoreSCT,
	}
	for name, x := range map[string]any{
		"keys": keys, "identities": p.Identities, "components": p.Components,
		"base_versions": p.BaseVersions, "min_sequence": p.MinSequence,
	} {
		if rv := reflect.ValueOf(x); rv.Len() > 0 {
			v[name] = x
		}
	}
	return v
}

// FuzzParseDuration: an accepted duration is never negative, and "Nd" is exactly N days
// (no overflow into a shorter or negative age).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "72h", "300000d", "106752d", "-1d", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := verify.ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 && !strings.HasPrefix(s, "-") {
			t.Fatalf("%q parsed to the negative %v", s, d)
		}
		if days, ok := strings.CutSuffix(s, "d"); ok {
			n, ok := new(big.Int).SetString(days, 10)
			want := new(big.Int).Mul(n, big.NewInt(int64(24*time.Hour)))
			if !ok || want.Cmp(big.NewInt(int64(d))) != 0 {
				t.Fatalf("%q parsed to %v, not %s days", s, d, days)
			}
		}
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
