package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// outcome classifies a verification result the way the CLI maps it to exit codes.
func outcome(err error) string {
	var ve *verify.Error
	var be *bundle.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, verify.ErrRecalled):
		return "recalled"
	case errors.Is(err, verify.ErrExpired):
		return "expired"
	case errors.As(err, &ve):
		return "failed " + ve.Check
	case errors.As(err, &be):
		return "damaged"
	}
	return "error: " + err.Error()
}

// verifyData reads data and runs verify.Bundle; a reader error is returned as is.
func verifyData(data []byte, p *verify.Policy, o *verify.Options) (*verify.Report, error) {
	r, err := bundle.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return verify.Bundle(ctx, r, p, o)
}

// setSigSize rewrites the size field of the first signature member's tar header.
func setSigSize(t *testing.T, data []byte, size int64) []byte {
	t.Helper()
	out := bytes.Clone(data)
	i := bytes.Index(out, []byte(bundle.SignatureMember(0)))
	if i < 0 || i%512 != 0 {
		t.Fatal("no signature header")
	}
	h := out[i : i+512]
	s := fmt.Sprintf("%011o", size)
	copy(h[124:135], s)
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:155], fmt.Sprintf("%06o\x00", sum))
	h[155] = ' '
	return out
}

func TestAttacks(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	k2, pub2 := newKey(t, "k2")
	_, pub3 := newKey(t, "k3")

	fa := newFixture(t, "new content AAAA\n", nil)
	fb := newFixture(t, "new content BBBB\n", nil)
	signedA := signWith(t, fa.data, k1)
	signedB := signWith(t, fb.data, k1)
	both := signWith(t, fa.data, k1, k2)
	expiring := signWith(t, newFixture(t, "new content AAAA\n", func(o *bundle.CreateOptions) {
		o.NotAfter = at.Add(-time.Hour)
	}).data, k1)

	one := &verify.Policy{Keys: []verify.TrustedKey{pub1}}
	two := &verify.Policy{Keys: []verify.TrustedKey{pub1, pub2}, Threshold: 2}

	// A second signature by k1 over A: valid, but the same signer.
	r := reader(t, fa.data)
	again, err := k1.Sign(ctx, r.ManifestBytes())
	if err != nil {
		t.Fatal(err)
	}
	sameKeyTwice := withSigs(t, signedA, append(sigsOf(t, signedA), again))

	// Payload swapped: A's manifest and signatures, B's payloads.
	pa, pb := bytes.Index(signedA, []byte("payloads/")), bytes.Index(signedB, []byte("payloads/"))
	swapped := append(bytes.Clone(signedA[:pa]), signedB[pb:]...)

	// A manifest byte changed after signing (the label): still a valid manifest.
	flipped := bytes.Replace(signedA, []byte(`"label":"1.1 (a)"`), []byte(`"label":"1.1 (b)"`), 1)
	if bytes.Equal(flipped, signedA) {
		t.Fatal("label not found")
	}

	base2 := t.TempDir()
	writeTree(t, base2, map[string]string{"lib/a.txt": "other content of a\n", "lib/keep.txt": "same\n"})

	tests := []struct {
		name string
		data []byte
		p    *verify.Policy
		o    *verify.Options
		want string
	}{
		{"signed", signedA, one, nil, "ok"},
		{"two of two", both, two, nil, "ok"},
		{"two of two, base tree", both, two, &verify.Options{BaseDir: fa.base}, "ok"},
		{"unsigned", fa.data, one, nil, "failed signatures"},
		{"stripped", withSigs(t, signedA, nil), one, nil, "failed signatures"},
		{"one stripped of two", withSigs(t, both, sigsOf(t, both)[1:]), two, nil, "failed signatures"},
		{"untrusted key", signWith(t, fa.data, k2), one, nil, "failed signatures"},
		{"untrusted extra signer is ignored", signWith(t, signedA, k2), one, nil, "ok"},
		{"signature copied from another bundle", withSigs(t, fa.data, sigsOf(t, signedB)), one, nil, "failed signatures"},
		{"too few distinct signers", signedA, two, nil, "failed signatures"},
		{"same key twice counts once", sameKeyTwice, two, nil, "failed signatures"},
		{"manifest byte changed", flipped, one, nil, "failed signatures"},
		{"payload swapped", swapped, one, nil, "failed payloads"},
		{"older sequence replayed (policy floor)", signedA, &verify.Policy{Keys: one.Keys, MinSequence: map[string]int64{"foo": 4}}, nil, "failed sequence"},
		{"older sequence replayed (install floor)", signedA, one, &verify.Options{Floors: map[string]int64{"foo": 9}}, "failed sequence"},
		{"sequence at floor", signedA, &verify.Policy{Keys: one.Keys, MinSequence: map[string]int64{"foo": 3}}, nil, "ok"},
		{"expired", expiring, one, &verify.Options{At: at}, "expired"},
		{"not yet expired", expiring, one, &verify.Options{At: at.Add(-2 * time.Hour)}, "ok"},
		{"wrong base", signedA, one, &verify.Options{BaseDir: base2}, "failed base_tree"},
		{"component not allowed", signedA, &verify.Policy{Keys: one.Keys, Components: []string{"bar"}}, nil, "failed components"},
		{"base version not allowed", signedA, &verify.Policy{Keys: one.Keys, BaseVersions: map[string][]string{"foo": {"0.9"}}}, nil, "failed base_version"},
		{"too old", signedA, &verify.Policy{Keys: one.Keys, MaxAge: time.Hour}, &verify.Options{At: at}, "failed max_age"},
		{"malformed signature member", withSigs(t, signedA, [][]byte{[]byte("{not json")}), one, nil, "failed signatures"},
		{"signature member not a sigstore bundle", withSigs(t, signedA, [][]byte{[]byte(`{"mediaType":"x"}`)}), one, nil, "failed signatures"},
		{"malformed member next to a good one", withSigs(t, signedA, append(sigsOf(t, signedA), []byte("[]"))), one, nil, "failed signatures"},
		{"oversized signature member", setSigSize(t, signedA, 300<<10), one, nil, "damaged"},
		{"untrusted k3 only", signedA, &verify.Policy{Keys: []verify.TrustedKey{pub3}}, nil, "failed signatures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := verifyData(tc.data, tc.p, tc.o)
			if got := outcome(err); got != tc.want {
				t.Fatalf("got %q, want %q (err: %v)", got, tc.want, err)
			}
			if rep != nil && rep.OK != (err == nil) {
				t.Errorf("report OK=%v with err %v", rep.OK, err)
			}
		})
	}
}

func TestThresholdReport(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	k2, pub2 := newKey(t, "k2")
	f := newFixture(t, "x\n", nil)
	data := signWith(t, f.data, k1, k2)
	rep, err := verifyData(data, &verify.Policy{Keys: []verify.TrustedKey{pub1, pub2}, Threshold: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Type != verify.ReportType || rep.Trusted != 2 || len(rep.Signers) != 2 || rep.Digest != reader(t, data).Digest() {
		t.Fatalf("report %+v", rep)
	}
	if rep.Signers[0].Key != pub1.Fingerprint || rep.Signers[1].Key != pub2.Fingerprint || rep.Signers[0].Kind != "key" {
		t.Fatalf("signers %+v", rep.Signers)
	}
	names := []string{}
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "signatures,components,base_version,sequence,recall,expiry,payloads" {
		t.Fatalf("checks %s", got)
	}
}

// TestAuthenticateBeforePayloads checks that a failed signature check stops before any
// payload is read: the reader is left at the first payload.
func TestAuthenticateBeforePayloads(t *testing.T) {
	t.Parallel()
	_, pub1 := newKey(t, "k1")
	f := newFixture(t, "x\n", nil)
	r := reader(t, f.data)
	_, err := verify.Bundle(ctx, r, &verify.Policy{Keys: []verify.TrustedKey{pub1}}, nil)
	if outcome(err) != "failed signatures" {
		t.Fatal(err)
	}
	e, err := r.Next()
	if err != nil || e == nil {
		t.Fatalf("first payload not available after a refused manifest: %v", err)
	}
}

func TestSignRefusesDuplicateKey(t *testing.T) {
	t.Parallel()
	k1, _ := newKey(t, "k1")
	f := newFixture(t, "x\n", nil)
	data := signWith(t, f.data, k1)
	r := reader(t, data)
	if _, err := sign.Signatures(ctx, r.ManifestBytes(), r.Signatures(), []sign.Signer{k1}); !errors.Is(err, sign.ErrDuplicate) {
		t.Fatalf("re-signing with the same key: %v", err)
	}
	if _, err := sign.Signatures(ctx, r.ManifestBytes(), nil, []sign.Signer{k1, k1}); !errors.Is(err, sign.ErrDuplicate) {
		t.Fatalf("same key twice: %v", err)
	}
}

func TestSignKeepsManifestAndPayloads(t *testing.T) {
	t.Parallel()
	k1, _ := newKey(t, "k1")
	f := newFixture(t, "x\n", nil)
	data := signWith(t, f.data, k1)
	// Removing the signature member gives back the unsigned bundle byte for byte.
	if !bytes.Equal(withSigs(t, data, nil), f.data) {
		t.Fatal("signing changed the manifest or payload bytes")
	}
}

func TestRecall(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	k2, _ := newKey(t, "k2")
	f := newFixture(t, "x\n", nil)
	data := signWith(t, f.data, k1)
	digest := reader(t, data).Digest()
	p := &verify.Policy{Keys: []verify.TrustedKey{pub1}}

	mk := func(seq int64, key *sign.Key, digests ...string) []byte {
		d := &verify.RecallDocument{Sequence: seq, Issued: "2026-05-01T00:00:00Z", NotAfter: "2099-01-01T00:00:00Z"}
		for _, dg := range digests {
			d.Entries = append(d.Entries, verify.RecallEntry{Digest: dg, Reason: "breaks things"})
		}
		doc, err := verify.MarshalRecallDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := key.Sign(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		out, err := verify.MarshalSignedRecall(doc, [][]byte{sig})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	other := "sha256:" + strings.Repeat("ab", 32)
	load := func(b []byte) *verify.RecallList {
		l, err := verify.ParseRecallList(b, p)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l1 := load(mk(1, k1, digest, other))
	l2 := load(mk(2, k1, other))

	_, err := verifyData(data, p, &verify.Options{Recalls: []*verify.RecallList{l1}})
	if outcome(err) != "recalled" {
		t.Fatalf("recalled bundle: %v", err)
	}
	// The newer list (which no longer names the bundle) is in force, whatever the order.
	for _, ls := range [][]*verify.RecallList{{l1, l2}, {l2, l1}} {
		if _, err := verifyData(data, p, &verify.Options{Recalls: ls}); err != nil {
			t.Fatalf("newest list should win: %v", err)
		}
	}
	// Policy lists and option lists combine.
	pp := *p
	pp.Recalls = []*verify.RecallList{l2}
	if _, err := verifyData(data, &pp, &verify.Options{Recalls: []*verify.RecallList{l1}}); err != nil {
		t.Fatal(err)
	}
	// Two different lists with the same sequence are refused: a conflict, not a recall.
	_, err = verifyData(data, p, &verify.Options{Recalls: []*verify.RecallList{l1, load(mk(1, k1, other))}})
	if !errors.Is(err, verify.ErrRecallConflict) || errors.Is(err, verify.ErrRecalled) || outcome(err) != "failed recall" ||
		!strings.Contains(err.Error(), "recall: recall list conflict: two different recall lists with sequence 1") {
		t.Fatalf("conflicting lists: %v", err)
	}
	// A list signed by an untrusted key, or altered, is refused.
	if _, err := verify.ParseRecallList(mk(3, k2, digest), p); outcome(err) != "failed recall_list" {
		t.Fatalf("untrusted recall list: %v", err)
	}
	tampered := bytes.Replace(mk(3, k1, digest, other), []byte("breaks things"), []byte("breaks thingz"), 1)
	if _, err := verify.ParseRecallList(tampered, p); outcome(err) != "failed recall_list" {
		t.Fatalf("tampered recall list: %v", err)
	}
	if _, err := verify.ParseRecallList([]byte(`{"type":"patchkit.signed-recall/v1","document":"{}","signatures":[],"extra":1}`), p); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestPolicyFile(t *testing.T) {
	t.Parallel()
	k1, _ := newKey(t, "k1")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k1.pub"), pubPEM(t, k1), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `type: patchkit.policy/v1
keys:
  - path: k1.pub
  - name: inline
    pem: |
` + indent(string(pubPEM(t, newKeyOnly(t))), "      ") + `
threshold: 2
components: [foo]
base_versions:
  foo: ["1.0"]
min_sequence:
  foo: 2
max_age: 30d
`
	p, err := verify.ParsePolicy([]byte(good), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 2 || p.Threshold != 2 || p.MaxAge != 30*24*time.Hour || p.Keys[1].Name != "inline" {
		t.Fatalf("policy %+v", p)
	}
	bad := map[string]string{
		"unknown field":       "keys: [{path: k1.pub}]\nthreshhold: 1\n",
		"no trust":            "threshold: 1\n",
		"threshold too high":  "keys: [{path: k1.pub}]\nthreshold: 2\n",
		"duplicate key":       "keys: [{path: k1.pub}, {path: k1.pub}]\n",
		"wrong type":          "type: other\nkeys: [{path: k1.pub}]\n",
		"missing key file":    "keys: [{path: nope.pub}]\n",
		"identity, no root":   "identities: [{subject: a@b.c, issuer: https://x}]\n",
		"bad max_age":         "keys: [{path: k1.pub}]\nmax_age: soon\n",
		"key with path+pem":   "keys: [{path: k1.pub, pem: x}]\n",
		"JSON unknown field":  `{"keys":[{"path":"k1.pub"}],"extra":true}`,
		"negative floor":      "keys: [{path: k1.pub}]\nmin_sequence: {foo: -1}\n",
		"recall list missing": "keys: [{path: k1.pub}]\nrecall_lists: [nope.json]\n",
	}
	for name, doc := range bad {
		if _, err := verify.ParsePolicy([]byte(doc), dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := verify.ParsePolicy([]byte(`{"keys":[{"path":"k1.pub"}],"threshold":1}`), dir); err != nil {
		t.Errorf("JSON policy: %v", err)
	}
}

func newKeyOnly(t *testing.T) *sign.Key {
	k, _ := newKey(t, "x")
	return k
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := verify.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"x", "-1d", "1.5d"} {
		if _, err := verify.ParseDuration(in); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}
