package verify

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

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
	// RecallThreshold is the number of distinct trusted signers a recall list needs; 0 means 1.
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
// OIDC issuer, each given exactly or as a regular expression (RE2, anchored by you).
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

// NewTrustedKey parses a PEM public key.
func NewTrustedKey(name string, pemBytes []byte) (TrustedKey, error) {
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
	if len(p.Identities) == 0 && p.threshold() > len(p.Keys) {
		return fmt.Errorf("threshold %d is more than the %d trusted keys", p.threshold(), len(p.Keys))
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
		return 1
	}
	return p.RecallThreshold
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
		return nil, err
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
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
