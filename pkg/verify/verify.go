// Package verify decides whether a patchkit bundle may be trusted: its signatures
// against a [Policy] (trusted keys and keyless identities, k-of-n threshold), expiry,
// anti-rollback sequence floors, recall lists, allowed components and base versions, and
// then every payload byte and, given the base tree, every produced file.
//
// [Manifest] needs only the manifest and the signature members; [Bundle] runs it and
// then streams the payloads, so nothing is decompressed before the manifest is
// authenticated. Both return a [Report] listing every check and every signer, and an
// error naming the first failed check: an [*Error], which satisfies
// errors.Is(err, [ErrRecalled]) or errors.Is(err, [ErrExpired]) for those two cases.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Check names, as they appear in reports and errors.
const (
	CheckSignatures = "signatures"
	CheckComponents = "components"
	CheckBase       = "base_version"
	CheckSequence   = "sequence"
	CheckRecall     = "recall"
	CheckExpiry     = "expiry"
	CheckMaxAge     = "max_age"
	CheckPayloads   = "payloads"
	CheckBaseTree   = "base_tree"
)

// ReportType is the type field of a [Report].
const ReportType = "patchkit.verify/v1"

var (
	// ErrRecalled is matched (errors.Is) by the error of a recalled bundle.
	ErrRecalled = errors.New("recalled")
	// ErrExpired is matched (errors.Is) by the error of an expired bundle or recall list.
	ErrExpired = errors.New("expired")
	// ErrRecallConflict is matched (errors.Is) when two different recall lists claim the
	// same sequence: a publishing fault or an attack, not a recall of the bundle.
	ErrRecallConflict = errors.New("recall list conflict")
)

// Error is a failed check.
type Error struct {
	Check string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("verification failed: %s: %v", e.Check, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Options are per-call inputs besides the policy.
type Options struct {
	At      time.Time        // evaluation time; zero means time.Now()
	Floors  map[string]int64 // extra per-component sequence floors (install state), combined with the policy's
	Recalls []*RecallList    // extra verified recall lists (for example the newest seen by install)
	BaseDir string           // Bundle only: apply every payload to this tree and check the target digests
}

// Report is the outcome of a verification. Its JSON shape is stable; fields are only added.
type Report struct {
	Type       string             `json:"type"`
	File       string             `json:"file,omitempty"` // set by callers that read a file
	Digest     string             `json:"digest"`
	ID         string             `json:"id,omitempty"`
	Label      string             `json:"label,omitempty"`
	Sequence   int64              `json:"sequence"`
	Components []bundle.Component `json:"components"`
	NotAfter   string             `json:"not_after,omitempty"`
	At         string             `json:"at"` // evaluation time
	OK         bool               `json:"ok"`
	Threshold  int                `json:"threshold"`
	Trusted    int                `json:"trusted_signers"` // distinct trusted signers
	Checks     []Check            `json:"checks"`
	Signers    []Signer           `json:"signers"`
	Recall     *RecallInfo        `json:"recall,omitempty"`
}

// Check is one check and its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	err    error
}

// RecallInfo names the recall list in force.
type RecallInfo struct {
	Sequence int64  `json:"sequence"`
	Reason   string `json:"reason,omitempty"` // why this bundle is recalled
}

func (r *Report) add(name string, err error, detail string) {
	c := Check{Name: name, OK: err == nil, Detail: detail, err: err}
	if err != nil {
		c.Detail = err.Error()
	}
	r.Checks = append(r.Checks, c)
}

// Err returns the error of the first failed check, or nil.
func (r *Report) Err() error {
	for _, c := range r.Checks {
		if !c.OK {
			return r.errFor(c)
		}
	}
	return nil
}

func (r *Report) errFor(c Check) error {
	err := errors.New(c.Detail)
	switch c.Name {
	case CheckRecall:
		err = recallCheckError(c.err)
	case CheckExpiry:
		err = fmt.Errorf("%w: %s", ErrExpired, c.Detail)
	}
	return &Error{Check: c.Name, Err: err}
}

// Manifest checks everything that needs only the manifest and its signatures:
// signatures and threshold, allowed components and base versions, sequence floor,
// recall, expiry and maximum age. The report lists every check even after a failure.
func Manifest(ctx context.Context, manifest []byte, sigs []bundle.Signature, p *Policy, o *Options) (*Report, error) {
	if o == nil {
		o = &Options{}
	}
	if p == nil {
		return nil, errors.New("verify: no policy")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	rep := &Report{Type: ReportType, Digest: bundle.Digest(manifest), At: at.UTC().Format(time.RFC3339),
		Threshold: p.threshold(), Checks: []Check{}, Signers: []Signer{}, Components: []bundle.Component{}}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := bundle.ParseManifest(manifest)
	if err != nil {
		return nil, &bundle.Error{Member: bundle.ManifestMember, Err: err}
	}
	rep.ID, rep.Label, rep.Sequence, rep.Components, rep.NotAfter = m.ID, m.Label, m.Sequence, m.Components, m.NotAfter

	signers, n, serr := checkSignatures(manifest, sigs, p)
	rep.Signers, rep.Trusted = signers, n
	switch {
	case serr != nil:
		rep.add(CheckSignatures, serr, "")
	case len(sigs) == 0:
		rep.add(CheckSignatures, errors.New("the bundle is not signed"), "")
	case n < p.threshold():
		rep.add(CheckSignatures, fmt.Errorf("%d distinct trusted signer(s), the policy needs %d%s", n, p.threshold(), whyNot(signers)), "")
	default:
		rep.add(CheckSignatures, nil, fmt.Sprintf("%d distinct trusted signer(s), %d needed", n, p.threshold()))
	}

	rep.add(CheckComponents, checkComponents(m, p), "allowed")
	rep.add(CheckBase, checkBaseVersions(m, p), "allowed")
	rep.add(CheckSequence, checkSequence(m, p, o), fmt.Sprintf("sequence %d is at or above every floor", m.Sequence))
	rinfo, rerr := checkRecall(rep.Digest, m, p, &Options{At: at, Recalls: o.Recalls})
	rep.Recall = rinfo
	rep.add(CheckRecall, rerr, recallDetail(rinfo))
	rep.add(CheckExpiry, checkExpiry(m, at), expiryDetail(m))
	if p.MaxAge > 0 {
		rep.add(CheckMaxAge, checkMaxAge(m, p, at), fmt.Sprintf("created within %s", p.MaxAge))
	}
	if err := rep.Err(); err != nil {
		return rep, err
	}
	rep.OK = true
	return rep, nil
}

func whyNot(signers []Signer) string {
	var parts []string
	for _, s := range signers {
		switch {
		case s.Duplicate:
			parts = append(parts, s.Member+": same signer as an earlier signature")
		case !s.Trusted:
			parts = append(parts, s.Member+": "+s.Error)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func checkComponents(m *bundle.Manifest, p *Policy) error {
	if len(p.Components) == 0 {
		return nil
	}
	for _, c := range m.Components {
		if !slices.Contains(p.Components, c.Name) {
			return fmt.Errorf("component %q is not allowed by the policy (allowed: %s)", c.Name, strings.Join(p.Components, ", "))
		}
	}
	return nil
}

func checkBaseVersions(m *bundle.Manifest, p *Policy) error {
	for _, c := range m.Components {
		allowed, ok := p.BaseVersions[c.Name]
		if ok && !slices.Contains(allowed, c.BaseVersion) {
			return fmt.Errorf("component %s: base version %q is not allowed by the policy (allowed: %s)", c.Name, c.BaseVersion, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func checkSequence(m *bundle.Manifest, p *Policy, o *Options) error {
	for _, c := range m.Components {
		floor, ok := p.MinSequence[c.Name]
		if f, ok2 := o.Floors[c.Name]; ok2 && (!ok || f > floor) {
			floor, ok = f, true
		}
		if ok && m.Sequence < floor {
			return fmt.Errorf("component %s: sequence %d is below the floor %d (an older bundle replayed?)", c.Name, m.Sequence, floor)
		}
	}
	return nil
}

func checkExpiry(m *bundle.Manifest, at time.Time) error {
	if m.NotAfter == "" {
		return nil
	}
	t, err := bundle.ParseTime(m.NotAfter)
	if err != nil {
		return err
	}
	if at.After(t) {
		return fmt.Errorf("the bundle expired at %s (checked at %s)", m.NotAfter, at.UTC().Format(time.RFC3339))
	}
	return nil
}

func expiryDetail(m *bundle.Manifest) string {
	if m.NotAfter == "" {
		return "no expiry"
	}
	return "valid until " + m.NotAfter
}

func checkMaxAge(m *bundle.Manifest, p *Policy, at time.Time) error {
	if m.Created == 0 {
		return errors.New("the manifest has no created time and the policy sets max_age")
	}
	created := time.Unix(m.Created, 0)
	if age := at.Sub(created); age > p.MaxAge {
		return fmt.Errorf("created %s, older than max_age %s", created.UTC().Format(time.RFC3339), p.MaxAge)
	}
	return nil
}

// Bundle runs [Manifest] on r's manifest and signatures, then reads every payload,
// checking its size and digest; with o.BaseDir it also checks the base tree and decodes
// every payload against it, checking every target digest. Payloads are read only after
// the manifest checks pass.
func Bundle(ctx context.Context, r *bundle.Reader, p *Policy, o *Options) (*Report, error) {
	if o == nil {
		o = &Options{}
	}
	rep, err := Manifest(ctx, r.ManifestBytes(), r.Signatures(), p, o)
	if err != nil {
		return rep, err
	}
	rep.OK = false
	m := r.Manifest()
	var baseErr error
	var wg sync.WaitGroup
	if o.BaseDir != "" {
		// The base tree is hashed while payloads are decoded: both cores work, and a
		// mismatch is reported after both finish (decoded output goes nowhere).
		wg.Add(1)
		go func() {
			defer wg.Done()
			baseErr = checkBaseTree(ctx, m, o.BaseDir)
		}()
	}
	n, perr := readPayloads(ctx, r, o.BaseDir)
	wg.Wait()
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if perr != nil {
		var be *bundle.BaseError
		if errors.As(perr, &be) && baseErr == nil {
			baseErr = perr
			perr = nil
		}
	}
	if o.BaseDir != "" && baseErr != nil {
		rep.add(CheckBaseTree, baseErr, "")
	}
	switch {
	case perr != nil:
		rep.add(CheckPayloads, perr, "")
	case o.BaseDir != "":
		rep.add(CheckPayloads, nil, fmt.Sprintf("%d payloads and every target digest match", n))
	default:
		rep.add(CheckPayloads, nil, fmt.Sprintf("%d payloads match their digests", n))
	}
	if o.BaseDir != "" && baseErr == nil {
		rep.add(CheckBaseTree, nil, "every base path matches "+o.BaseDir)
	}
	if err := rep.Err(); err != nil {
		return rep, err
	}
	rep.OK = true
	return rep, nil
}

// readPayloads reads every payload; with baseDir it decodes each against the base file.
func readPayloads(ctx context.Context, r *bundle.Reader, baseDir string) (int, error) {
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		e, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if baseDir == "" {
			if _, err := io.Copy(io.Discard, e); err != nil {
				return n, err
			}
			continue
		}
		if err := decodeEntry(e, baseDir); err != nil {
			return n, err
		}
	}
}

func decodeEntry(e *bundle.Entry, baseDir string) error {
	var base io.ReaderAt
	if f := e.File; f.Base != nil && f.Base.Type == bundle.TypeFile {
		bf, err := bundle.OpenRegular(bundle.Path(baseDir, f.Path))
		if err != nil {
			return &bundle.BaseError{Path: f.Path, Err: err}
		}
		defer bf.Close()
		base = bf
	}
	return e.Decode(io.Discard, base)
}

// checkBaseTree checks every base node of m under dir, files hashed in parallel.
func checkBaseTree(ctx context.Context, m *bundle.Manifest, dir string) error {
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	// Large files first, so one big file does not end up last on a single core.
	idx := make([]int, 0, len(m.Files))
	for i, f := range m.Files {
		if f.Base != nil {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return int(min(max(m.Files[b].Base.Size-m.Files[a].Base.Size, -1), 1))
	})
	jobs := make(chan int)
	errs := make([]error, len(m.Files))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				one := &bundle.Manifest{Files: m.Files[i : i+1]}
				errs[i] = bundle.CheckBase(one, dir)
			}
		}()
	}
	for _, i := range idx {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}
