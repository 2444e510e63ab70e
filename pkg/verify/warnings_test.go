package verify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/verify"
)

// Identity regexps match substrings (as cosign's do): the policy warns for every one
// that is not anchored, and for insecure_ignore_sct (issue 13 item 10).
func TestPolicyWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		re   string
		warn bool
	}{
		{`^rel@example\.com$`, false},
		{`\Arel@example\.com\z`, false},
		{`rel@example\.com`, true},
		{`^rel@example\.com`, true},
		{`rel@example\.com$`, true},
		{`^rel@example\.com\$`, true}, // an escaped $ is a literal
		{`^rel@example\.com\\$`, false},
	} {
		p := &verify.Policy{Identities: []verify.Identity{{SubjectRegexp: tc.re, Issuer: "https://issuer"}}}
		w := p.Warnings()
		if got := len(w) == 1 && strings.Contains(w[0], "is not anchored"); got != tc.warn {
			t.Errorf("%s: warnings %q", tc.re, w)
		}
	}
	p := &verify.Policy{InsecureIgnoreSCT: true}
	if w := p.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "INSECURE: keyless certificates are accepted without a certificate transparency proof") {
		t.Errorf("ignore SCT: %q", w)
	}
}

// A key file with several PEM blocks is refused (issue 13 item 10).
func TestKeyFileWithTwoKeys(t *testing.T) {
	t.Parallel()
	k1, _ := newKey(t, "k1")
	k2, _ := newKey(t, "k2")
	two := append(pubPEM(t, k1), pubPEM(t, k2)...)
	_, err := verify.NewTrustedKey("two.pub", two)
	if err == nil || err.Error() != "public key two.pub: holds 2 PEM blocks: give one key per file (repeat --key, or list each in the policy)" {
		t.Fatalf("got %v", err)
	}
}

// --at moves the evaluation time only: max_age still measures from the manifest's
// created time (issue 13 item 9).
func TestMaxAgeFromCreated(t *testing.T) {
	t.Parallel()
	k1, pub1 := newKey(t, "k1")
	f := newFixture(t, "x\n", nil) // created 1_700_000_000
	data := signWith(t, f.data, k1)
	p := &verify.Policy{Keys: []verify.TrustedKey{pub1}, MaxAge: time.Hour}
	created := time.Unix(1_700_000_000, 0)
	if _, err := verifyData(data, p, &verify.Options{At: created.Add(59 * time.Minute)}); err != nil {
		t.Fatalf("within max_age: %v", err)
	}
	_, err := verifyData(data, p, &verify.Options{At: created.Add(61 * time.Minute)})
	if outcome(err) != "failed max_age" || !strings.Contains(err.Error(), "created 2023-11-14T22:13:20Z, older than max_age 1h0m0s") {
		t.Fatalf("past max_age: %v", err)
	}
}
