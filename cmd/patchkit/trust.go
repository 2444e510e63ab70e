package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/patchkit/patchkit/pkg/verify"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/pflag"
)

// trustOptions are the flags that name whom to trust. verify, recall verify and apply
// embed them; there is no default: without a trust source validate fails.
type trustOptions struct {
	keys           []string
	threshold      int
	identity       string
	identityRegexp string
	issuer         string
	issuerRegexp   string
	trustedRoot    string
	ignoreSCT      bool
	tuf            bool
	policyFile     string
	recallLists    []string
	fs             *pflag.FlagSet
}

func (o *trustOptions) addFlags(fs *pflag.FlagSet) {
	o.fs = fs
	fs.StringArrayVar(&o.keys, "key", nil, "trusted PEM public key, one per file (repeatable; each key counts once toward --threshold)")
	fs.IntVar(&o.threshold, "threshold", 0, "distinct trusted signers needed (default 1)")
	fs.StringVar(&o.identity, "certificate-identity", "", "trusted keyless signer: certificate subject (email or URI)")
	fs.StringVar(&o.identityRegexp, "certificate-identity-regexp", "", "trusted keyless signer: regular expression for the certificate subject (matches a substring: anchor it with ^...$)")
	fs.StringVar(&o.issuer, "certificate-oidc-issuer", "", "OIDC issuer of the trusted keyless signer")
	fs.StringVar(&o.issuerRegexp, "certificate-oidc-issuer-regexp", "", "regular expression for the OIDC issuer of the trusted keyless signer (matches a substring: anchor it)")
	fs.StringVar(&o.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json (Fulcio CAs, Rekor and CT log keys) for keyless signatures")
	fs.BoolVar(&o.tuf, "trusted-root-tuf", false, "fetch the Sigstore public-good trusted root from its TUF repository (needs the network; cached in ~/.sigstore)")
	fs.BoolVar(&o.ignoreSCT, "insecure-ignore-sct", false, "INSECURE: accept keyless certificates without a certificate transparency proof (private Fulcio without CT; warns)")
	fs.StringVar(&o.policyFile, "policy", "", "policy file (YAML or JSON): trusted keys and identities, threshold, components, base versions, sequence floors, recall lists, max age")
	fs.StringArrayVar(&o.recallLists, "recall-list", nil, "signed recall list to honour (repeatable; verified against the same trust; the newest is in force)")
}

func (o *trustOptions) hasIdentity() bool {
	return o.identity != "" || o.identityRegexp != "" || o.issuer != "" || o.issuerRegexp != ""
}

// given reports whether any trust source was named on the command line.
func (o *trustOptions) given() bool {
	return o.policyFile != "" || len(o.keys) > 0 || o.hasIdentity() || o.thresholdSet() || o.trustedRoot != ""
}

func (o *trustOptions) thresholdSet() bool {
	return o.threshold != 0 || o.fs != nil && o.fs.Changed("threshold")
}

// validate refuses a missing or contradictory trust source before any work.
func (o *trustOptions) validate() error {
	switch {
	case o.thresholdSet() && o.threshold < 1:
		return usagef("--threshold %d: must be at least 1", o.threshold)
	case o.policyFile != "" && (len(o.keys) > 0 || o.hasIdentity() || o.thresholdSet() || o.trustedRoot != "" || o.tuf || o.ignoreSCT):
		return usagef("--policy cannot be combined with --key, --threshold, --trusted-root or --certificate-* flags: put them in the policy")
	case o.policyFile == "" && len(o.keys) == 0 && !o.hasIdentity():
		return withHint(usagef("no trust source: patchkit never accepts any signer"),
			"give --key PUB (repeatable, with --threshold K), --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp] and --trusted-root, or --policy FILE")
	case o.identity != "" && o.identityRegexp != "", o.issuer != "" && o.issuerRegexp != "":
		return usagef("give a certificate identity or issuer either exactly or as a regexp, not both")
	case o.hasIdentity() && (o.identity == "" && o.identityRegexp == "" || o.issuer == "" && o.issuerRegexp == ""):
		return usagef("a keyless signer needs both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")
	case o.trustedRoot != "" && o.tuf:
		return usagef("give --trusted-root FILE or --trusted-root-tuf, not both")
	case o.hasIdentity() && o.trustedRoot == "" && !o.tuf:
		return withHint(usagef("keyless verification needs --trusted-root FILE or --trusted-root-tuf"),
			"verification is offline by default: save the Sigstore trusted root (trusted_root.json from the Sigstore TUF repository, or \"cosign trusted-root create\") and pass it, or fetch it with --trusted-root-tuf")
	case len(o.keys) > 0 && !o.hasIdentity():
		// Not a usage error: fewer trusted signers than required is exactly what a
		// failed verification is (exit 3), whatever the bundle holds.
		return verify.Meetable("--threshold", o.threshold, len(o.keys))
	}
	return nil
}

// policy builds the policy the flags describe, with the recall lists verified against
// it, and writes its warnings (verify.Policy.Warnings) to stderr.
func (o *trustOptions) policy(stderr io.Writer) (*verify.Policy, error) {
	var p *verify.Policy
	if o.policyFile != "" {
		var err error
		if p, err = verify.LoadPolicy(o.policyFile); err != nil {
			return nil, err
		}
	} else {
		p = &verify.Policy{Threshold: o.threshold}
		for _, path := range o.keys {
			k, err := verify.LoadKey(path)
			if err != nil {
				return nil, err
			}
			p.Keys = append(p.Keys, k)
		}
		if o.hasIdentity() {
			p.Identities = []verify.Identity{{Subject: o.identity, SubjectRegexp: o.identityRegexp, Issuer: o.issuer, IssuerRegexp: o.issuerRegexp}}
			var tr sgroot.TrustedMaterial
			var err error
			if o.tuf {
				tr, err = sgroot.FetchTrustedRoot()
				if err != nil {
					err = fmt.Errorf("fetching the Sigstore public-good trusted root: %w", err)
				}
			} else {
				tr, err = verify.LoadTrustedRoot(o.trustedRoot)
			}
			if err != nil {
				return nil, err
			}
			p.TrustedRoot = tr
		}
		p.InsecureIgnoreSCT = o.ignoreSCT
		if err := p.Validate(); err != nil {
			var ve *verify.Error
			if errors.As(err, &ve) {
				return nil, err // an unmeetable threshold fails verification (exit 3)
			}
			return nil, &usageError{err}
		}
	}
	for _, path := range o.recallLists {
		l, err := verify.LoadRecallList(path, p)
		if err != nil {
			return nil, err
		}
		p.Recalls = append(p.Recalls, l)
	}
	for _, w := range p.Warnings() {
		fmt.Fprintf(stderr, "patchkit: warning: %s\n", w)
	}
	return p, nil
}

var atSecondsRE = regexp.MustCompile(`^@[0-9]{1,19}$`)

// parseAt parses --at: RFC 3339, or a Unix time as @<decimal seconds>, nothing else. A
// time given is an override of the clock for expiry, max_age and recall list expiry,
// so it is announced on stderr like the --insecure-* flags. max_age still measures from
// the manifest's created time.
func parseAt(s string, stderr io.Writer) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if atSecondsRE.MatchString(s) {
		sec, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil {
			return time.Time{}, usagef("--at %q: want RFC 3339 or @<decimal seconds>", s)
		}
		t = time.Unix(sec, 0)
	} else {
		var err error
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, usagef("--at %q: want RFC 3339 (2026-01-02T15:04:05Z) or @<decimal seconds>", s)
		}
	}
	fmt.Fprintf(stderr, "patchkit: warning: --at: expiry, max_age and recall lists are judged at %s, not now\n", t.UTC().Format(time.RFC3339))
	return t, nil
}

func init() {
	exitCodeHooks = append(exitCodeHooks, func(err error) (int, bool) {
		var ve *verify.Error
		switch {
		case errors.Is(err, verify.ErrRecalled), errors.Is(err, verify.ErrExpired):
			return exitRecalled, true
		case errors.As(err, &ve):
			return exitVerify, true
		}
		return 0, false
	})
}
