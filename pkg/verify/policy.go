package verify

import (
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchkit/patchkit/internal/yamlpos"
	"github.com/patchkit/patchkit/pkg/sign"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
	"sigs.k8s.io/yaml"
)

// Policy says whom to trust and what to accept. The zero Policy trusts nobody: every
// policy needs at least one key or identity ([Policy.Validate]).
type Policy struct {
	Keys       []TrustedKey // trusted public keys; each counts once toward Threshold
	Identities []Identity   // trusted keyless identities; each distinct certificate identity counts once
	// TrustedRoot holds the Fulcio CAs and Rekor/CT log keys keyless signatures are
	// checked against (a Sigstore trusted_root.json). Needed when Identities is not empty.
	TrustedRoot sgroot.TrustedMaterial
	Threshold   int // distinct trusted signers needed; 0 means 1
	// InsecureIgnoreSCT accepts keyless certificates without a certificate transparency
	// proof (private Fulcio deployments without a CT log). Off by default, as in cosign.
	InsecureIgnoreSCT bool

	Components   []string            // allowed component names; empty allows any
	BaseVersions map[string][]string // per component, the allowed base versions; absent allows any
	MinSequence  map[string]int64    // per component, the lowest acceptable sequence
	MaxAge       time.Duration       // the manifest's created time must be at most this old; 0: no limit

	Recalls []*RecallList // verified recall lists; the newest is in force
	// RecallThreshold is the number of distinct trusted signers a recall list needs; 0
	// means Threshold: a list that can stop an install needs the trust that admits one.
	// Setting it lower is an explicit choice: that many signers can then publish a list,
	// with any sequence (docs/signing.md).
	RecallThreshold int
	// AutoInstall says whether "patchkit update" installs what its channel offers (nil or
	// true) or only reports it (false), like --check.
	AutoInstall *bool
}

// TrustedKey is a public key a policy trusts.
type TrustedKey struct {
	Name        string // file name or label, for reports
	Public      crypto.PublicKey
	Fingerprint string // sign.Fingerprint of Public
}

// Identity is a keyless signer a policy trusts: a certificate subject (email, URI) and
// OIDC issuer, each given exactly or as a regular expression (RE2). As in cosign and
// sigstore-go, a regular expression matches a substring: "rel@example.com" also matches
// "rel@example.com.evil.org"; anchor it ("^rel@example\.com$"). [Policy.Warnings] names
// every regexp that is not anchored.
type Identity struct {
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subject_regexp,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegexp  string `json:"issuer_regexp,omitempty"`
}

func (id Identity) String() string {
	s, i := id.Subject, id.Issuer
	if s == "" {
		s = "~" + id.SubjectRegexp
	}
	if i == "" {
		i = "~" + id.IssuerRegexp
	}
	return s + " (" + i + ")"
}

func (id Identity) validate() error {
	if (id.Subject == "") == (id.SubjectRegexp == "") {
		return errors.New("identity needs exactly one of subject and subject_regexp")
	}
	if (id.Issuer == "") == (id.IssuerRegexp == "") {
		return errors.New("identity needs exactly one of issuer and issuer_regexp")
	}
	for _, re := range []string{id.SubjectRegexp, id.IssuerRegexp} {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("identity regexp: %w", err)
		}
	}
	return nil
}

// NewTrustedKey parses a PEM public key. Text holding more than one PEM block is
// refused: a file of several keys would silently trust only the first (or, read by
// another tool, all of them) under one name.
func NewTrustedKey(name string, pemBytes []byte) (TrustedKey, error) {
	if n := pemBlocks(pemBytes); n > 1 {
		return TrustedKey{}, fmt.Errorf("public key %s: holds %d PEM blocks: give one key per file (repeat --key, or list each in the policy)", name, n)
	}
	pub, err := sign.ParsePublicKey(pemBytes)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("public key %s: %w", name, err)
	}
	fp, err := sign.Fingerprint(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	return TrustedKey{Name: name, Public: pub, Fingerprint: fp}, nil
}

func pemBlocks(b []byte) int {
	n := 0
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return n
		}
		n++
	}
}

// Warnings lists what in p weakens verification without failing it, for the caller to
// show: identity regexps that are not anchored (they match substrings) and accepting
// certificates without a transparency proof.
func (p *Policy) Warnings() []string {
	var w []string
	for _, id := range p.Identities {
		for _, re := range []struct{ field, expr string }{{"subject_regexp", id.SubjectRegexp}, {"issuer_regexp", id.IssuerRegexp}} {
			if re.expr != "" && !anchored(re.expr) {
				w = append(w, fmt.Sprintf("identity %s %q is not anchored: it matches any certificate %s containing a match; write ^...$",
					re.field, re.expr, strings.TrimSuffix(re.field, "_regexp")))
			}
		}
	}
	if p.InsecureIgnoreSCT {
		w = append(w, "INSECURE: keyless certificates are accepted without a certificate transparency proof (insecure_ignore_sct)")
	}
	return w
}

// anchored reports whether re matches whole strings only: it starts with ^ (or \A) and
// ends with an unescaped $ (or \z).
func anchored(re string) bool {
	start := strings.HasPrefix(re, "^") || strings.HasPrefix(re, `\A`)
	end := strings.HasSuffix(re, `\z`)
	if strings.HasSuffix(re, "$") {
		bs := len(re) - 1 - len(strings.TrimRight(re[:len(re)-1], `\`))
		end = bs%2 == 0
	}
	return start && end
}

// LoadKey reads a PEM public key file.
func LoadKey(path string) (TrustedKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TrustedKey{}, err
	}
	return NewTrustedKey(path, b)
}

// LoadTrustedRoot reads a Sigstore trusted_root.json (as printed by
// "cosign trusted-root create" or shipped by the Sigstore TUF repository).
func LoadTrustedRoot(path string) (sgroot.TrustedMaterial, error) {
	tr, err := sgroot.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w", path, err)
	}
	return tr, nil
}

// Validate checks that p names a trust source and that its threshold can be met.
func (p *Policy) Validate() error {
	if len(p.Keys) == 0 && len(p.Identities) == 0 {
		return errors.New("no trusted key or identity: refusing to accept any signer")
	}
	if len(p.Identities) > 0 && p.TrustedRoot == nil {
		return errors.New("keyless identities need a Sigstore trusted root")
	}
	for _, id := range p.Identities {
		if err := id.validate(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, k := range p.Keys {
		if seen[k.Fingerprint] {
			return fmt.Errorf("key %s (%s) is listed twice", k.Name, k.Fingerprint)
		}
		seen[k.Fingerprint] = true
	}
	if p.Threshold < 0 || p.RecallThreshold < 0 {
		return errors.New("negative threshold")
	}
	if len(p.Identities) == 0 {
		if err := Meetable("threshold", p.threshold(), len(p.Keys)); err != nil {
			return err
		}
		if err := Meetable("recall_threshold", p.recallThreshold(), len(p.Keys)); err != nil {
			return err
		}
	}
	for c, s := range p.MinSequence {
		if s < 0 {
			return fmt.Errorf("min_sequence of %s is negative", c)
		}
	}
	if p.MaxAge < 0 {
		return errors.New("max_age is negative")
	}
	return nil
}

func (p *Policy) threshold() int {
	if p.Threshold <= 0 {
		return 1
	}
	return p.Threshold
}

func (p *Policy) recallThreshold() int {
	if p.RecallThreshold <= 0 {
		return p.threshold()
	}
	return p.RecallThreshold
}

// Meetable refuses a threshold k that n trusted keys can never meet. The error is an
// [*Error] of check signatures: whether the threshold comes from flags or a policy file,
// no bundle could pass, which is a failed verification, not a usage error.
func Meetable(what string, k, n int) error {
	if k > n {
		return &Error{Check: CheckSignatures, Err: fmt.Errorf("%s %d cannot be met: it is more than the %d trusted key(s)", what, k, n)}
	}
	return nil
}

// PolicyFile is the policy document read by [LoadPolicy], in YAML or JSON. Unknown fields
// are refused. Relative paths are resolved from the policy file's directory.
type PolicyFile struct {
	Type              string              `json:"type,omitempty"` // "patchkit.policy/v1" if given
	Keys              []PolicyKey         `json:"keys,omitempty"`
	Identities        []Identity          `json:"identities,omitempty"`
	TrustedRoot       string              `json:"trusted_root,omitempty"` // path of a Sigstore trusted_root.json
	InsecureIgnoreSCT bool                `json:"insecure_ignore_sct,omitempty"`
	Threshold         int                 `json:"threshold,omitempty"`
	Components        []string            `json:"components,omitempty"`
	BaseVersions      map[string][]string `json:"base_versions,omitempty"`
	MinSequence       map[string]int64    `json:"min_sequence,omitempty"`
	MaxAge            string              `json:"max_age,omitempty"` // Go duration, or a number of days as "30d"
	RecallLists       []string            `json:"recall_lists,omitempty"`
	RecallThreshold   int                 `json:"recall_threshold,omitempty"`
	AutoInstall       *bool               `json:"auto_install,omitempty"` // channel update: install, or only report (false)
}

// PolicyKey is a trusted key in a policy file: a PEM file or inline PEM text.
type PolicyKey struct {
	Name string `json:"name,omitempty"`
	Path string `json:"path,omitempty"`
	PEM  string `json:"pem,omitempty"`
}

// PolicyType is the type field of a policy document.
const PolicyType = "patchkit.policy/v1"

const maxPolicySize = 1 << 20

// LoadPolicy reads a policy file (YAML or JSON, strict) and the keys, trusted root and
// recall lists it names. Recall lists are verified against the policy's own signers.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes a policy document; dir resolves relative paths in it.
func ParsePolicy(b []byte, dir string) (*Policy, error) {
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("policy is larger than %d bytes", maxPolicySize)
	}
	var f PolicyFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, yamlpos.Wrap(b, err) // "line N: ..."
	}
	if f.Type != "" && f.Type != PolicyType {
		return nil, fmt.Errorf("unknown policy type %q (want %q)", f.Type, PolicyType)
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	p := &Policy{
		Identities: f.Identities, Threshold: f.Threshold, InsecureIgnoreSCT: f.InsecureIgnoreSCT, Components: f.Components,
		BaseVersions: f.BaseVersions, MinSequence: f.MinSequence, RecallThreshold: f.RecallThreshold,
		AutoInstall: f.AutoInstall,
	}
	var err error
	for i, k := range f.Keys {
		var tk TrustedKey
		switch {
		case (k.Path == "") == (k.PEM == ""):
			return nil, fmt.Errorf("keys[%d]: give exactly one of path and pem", i)
		case k.Path != "":
			tk, err = LoadKey(abs(k.Path))
		default:
			tk, err = NewTrustedKey(fmt.Sprintf("keys[%d]", i), []byte(k.PEM))
		}
		if err != nil {
			return nil, err
		}
		if k.Name != "" {
			tk.Name = k.Name
		}
		p.Keys = append(p.Keys, tk)
	}
	if f.TrustedRoot != "" {
		if p.TrustedRoot, err = LoadTrustedRoot(abs(f.TrustedRoot)); err != nil {
			return nil, err
		}
	}
	if f.MaxAge != "" {
		if p.MaxAge, err = ParseDuration(f.MaxAge); err != nil {
			return nil, fmt.Errorf("max_age: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	for _, rl := range f.RecallLists {
		l, err := LoadRecallList(abs(rl), p)
		if err != nil {
			return nil, err
		}
		p.Recalls = append(p.Recalls, l)
	}
	return p, nil
}

// ParseDuration parses a Go duration ("720h") or a whole number of days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
