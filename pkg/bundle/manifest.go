package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchkit/patchkit/internal/canonjson"
)

// FormatV1 is the value of [Manifest.Format] for this version of the format.
const FormatV1 = "patchkit.bundle/v1"

// Limits on what a reader accepts. Writers refuse to produce anything larger.
const (
	maxManifestSize   = 16 << 20 // bytes of manifest.json
	maxFiles          = 100_000  // entries in Manifest.Files
	maxComponents     = 64
	maxPathLen        = 4096 // bytes of one path
	maxPathDepth      = 64
	maxLinkLen        = 4096
	maxTextLen        = 1024 // label, activation, versions, one advisory id
	maxAdvisories     = 1024
	maxSignatures     = 32
	maxSignatureSize  = 256 << 10
	maxFileSize       = 1 << 36 // 64 GiB per target file
	maxSequence       = 1<<53 - 1
	payloadMemberRoot = "payloads/"
)

// Op is what a bundle does to one path.
type Op string

// The operations of format v1.
const (
	OpAdd     Op = "add"     // path absent in the base, present in the target
	OpDelete  Op = "delete"  // path present in the base, absent in the target
	OpReplace Op = "replace" // content or type changes; a file target carries its full content
	OpPatch   Op = "patch"   // a regular file changes; the payload is a delta against the base file
	OpMode    Op = "mode"    // only the permission bits change
	OpLink    Op = "symlink" // a symbolic link changes its target
	OpPin     Op = "pin"     // unchanged; the base digest is pinned so the bundle refuses other bases
)

// Node types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Manifest is the signed description of a bundle. Its canonical JSON encoding (see
// [Manifest.Marshal]) is the first member of every bundle and the only signed object.
// Fields are declared in the order of their JSON names, which is the canonical order.
type Manifest struct {
	Activation string      `json:"activation,omitempty"` // hint such as "restart WebContent"
	Advisories []string    `json:"advisories,omitempty"` // CVE or vendor advisory ids
	Components []Component `json:"components"`
	Created    int64       `json:"created,omitempty"` // Unix seconds, from SOURCE_DATE_EPOCH; also every member's mtime
	Files      []File      `json:"files"`
	Format     string      `json:"format"`
	ID         string      `json:"id"`
	Label      string      `json:"label"`               // e.g. "3.0.22 (a)"
	NotAfter   string      `json:"not_after,omitempty"` // RFC 3339 UTC expiry
	Sequence   int64       `json:"sequence"`            // anti-rollback counter, per component
	Supersedes []string    `json:"supersedes,omitempty"`
}

// Component is one installable unit the bundle patches, such as WebKit or libssl3.
type Component struct {
	BaseVersion   string `json:"base_version"`
	Name          string `json:"name"`
	Root          string `json:"root,omitempty"` // prefix every path of the component lies under; "" is the whole tree
	TargetVersion string `json:"target_version,omitempty"`
}

// File is one touched path.
type File struct {
	Base      *Node    `json:"base,omitempty"` // nil for OpAdd
	Component string   `json:"component"`
	Op        Op       `json:"op"`
	Path      string   `json:"path"` // slash-separated, relative to the install root
	Payload   *Payload `json:"payload,omitempty"`
	Target    *Node    `json:"target,omitempty"` // nil for OpDelete
}

// Node describes a path in the base or the target tree.
type Node struct {
	Link   string `json:"link,omitempty"` // symlink text
	Mode   string `json:"mode,omitempty"` // four octal digits, for files and directories
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Type   string `json:"type"`
}

// Payload describes the stored bytes that produce a target file.
type Payload struct {
	Codec  string `json:"codec"`
	SHA256 string `json:"sha256"` // of the stored (compressed) bytes
	Size   int64  `json:"size"`   // of the stored bytes
}

// Marshal returns the canonical encoding of m: compact JSON, keys in the order declared
// above (sorted), no HTML escaping, no trailing newline. It validates m first.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := encodeCanonical(m)
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("manifest is %d bytes, more than the limit of %d", len(b), maxManifestSize)
	}
	return b, nil
}

func encodeCanonical(v any) ([]byte, error) { return canonjson.Marshal(v) }

// ParseManifest decodes and validates manifest bytes. It accepts only the canonical
// encoding: unknown fields, duplicate keys, other key orders, white space and
// non-canonical escapes or numbers are all refused, so one manifest has one encoding.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("manifest is %d bytes, more than the limit of %d", len(b), maxManifestSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("manifest is not valid UTF-8")
	}
	var probe struct {
		Format string `json:"format"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&probe); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	if probe.Format != FormatV1 {
		return nil, fmt.Errorf("unsupported manifest format %q (this patchkit reads %q)", probe.Format, FormatV1)
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding manifest: data after the JSON object")
	}
	canon, err := encodeCanonical(&m)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		return nil, errors.New("manifest is not in canonical form (key order, white space, escapes or duplicate keys)")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Digest returns the bundle digest: the SHA-256 of the manifest bytes, as "sha256:<hex>".
// It names the bundle in signatures, recall lists and install records; adding signatures
// does not change it.
func Digest(manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var (
	idRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+:~-]{0,127}$`)
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,63}$`)
	hexRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	advisRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	digestRE  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	modeRE    = regexp.MustCompile(`^0[0-7]{3}$|^[0-7]{4}$`)
	errNoText = errors.New("must not be empty")
)

// Validate checks every rule of the format that does not need payload bytes: field
// syntax, limits, path safety, sorted unique paths, and which fields each op needs.
func (m *Manifest) Validate() error {
	if m.Format != FormatV1 {
		return fmt.Errorf("unsupported manifest format %q", m.Format)
	}
	if !idRE.MatchString(m.ID) {
		return fmt.Errorf("bundle id %q: want 1-128 characters of [A-Za-z0-9._+:~-]", m.ID)
	}
	if err := checkText("label", m.Label, true); err != nil {
		return err
	}
	if err := checkText("activation", m.Activation, false); err != nil {
		return err
	}
	if m.Sequence < 0 || m.Sequence > maxSequence {
		return fmt.Errorf("sequence %d out of range 0..%d", m.Sequence, int64(maxSequence))
	}
	if m.Created < 0 {
		return fmt.Errorf("created %d is negative", m.Created)
	}
	if m.NotAfter != "" {
		if _, err := ParseTime(m.NotAfter); err != nil {
			return fmt.Errorf("not_after: %w", err)
		}
	}
	if len(m.Advisories) > maxAdvisories {
		return fmt.Errorf("%d advisories, more than the limit of %d", len(m.Advisories), maxAdvisories)
	}
	for _, a := range m.Advisories {
		if !advisRE.MatchString(a) {
			return fmt.Errorf("advisory id %q is not valid", a)
		}
	}
	for _, s := range m.Supersedes {
		if !idRE.MatchString(s) && !digestRE.MatchString(s) {
			return fmt.Errorf("supersedes %q: want a bundle id or sha256:<hex> digest", s)
		}
	}
	if len(m.Components) == 0 {
		return errors.New("manifest names no component")
	}
	if len(m.Components) > maxComponents {
		return fmt.Errorf("%d components, more than the limit of %d", len(m.Components), maxComponents)
	}
	roots := map[string]string{}
	for i, c := range m.Components {
		if !nameRE.MatchString(c.Name) {
			return fmt.Errorf("component name %q: want 1-64 characters of [a-z0-9._+-]", c.Name)
		}
		if _, dup := roots[c.Name]; dup {
			return fmt.Errorf("component %q listed twice", c.Name)
		}
		if i > 0 && m.Components[i-1].Name > c.Name {
			return errors.New("components are not sorted by name")
		}
		if c.Root != "" {
			if err := CheckPath(c.Root); err != nil {
				return fmt.Errorf("component %q root: %w", c.Name, err)
			}
		}
		if err := checkText("component "+c.Name+" base_version", c.BaseVersion, true); err != nil {
			return err
		}
		if err := checkText("component "+c.Name+" target_version", c.TargetVersion, false); err != nil {
			return err
		}
		roots[c.Name] = c.Root
	}
	if len(m.Files) > maxFiles {
		return fmt.Errorf("%d files, more than the limit of %d", len(m.Files), maxFiles)
	}
	links := map[string]bool{}
	for i := range m.Files {
		f := &m.Files[i]
		if err := CheckPath(f.Path); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
		for _, n := range []*Node{f.Base, f.Target} {
			if n != nil && n.Type == TypeSymlink {
				links[f.Path] = true
			}
		}
	}
	for i := range m.Files {
		f := &m.Files[i]
		// A link's text is data, never a path to write through: no path lies below a
		// path that is a symlink on either side.
		if l := underSymlink(f.Path, links); l != "" {
			return fmt.Errorf("%s lies below %s, a symlink: a link is never a path to write through", f.Path, l)
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			if m.Files[i-1].Path == f.Path {
				return fmt.Errorf("path %q is listed twice", f.Path)
			}
			return fmt.Errorf("files are not sorted: %q before %q", m.Files[i-1].Path, f.Path)
		}
		root, ok := roots[f.Component]
		if !ok {
			return fmt.Errorf("%s: unknown component %q", f.Path, f.Component)
		}
		if root != "" && !strings.HasPrefix(f.Path, root+"/") {
			return fmt.Errorf("%s: outside the root %q of component %q", f.Path, root, f.Component)
		}
		if err := f.validate(); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return nil
}

func checkText(what, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s %w", what, errNoText)
		}
		return nil
	}
	if len(s) > maxTextLen {
		return fmt.Errorf("%s is longer than %d bytes", what, maxTextLen)
	}
	return checkSafeText(what, s)
}

// CheckPath reports whether p is a safe relative path: slash-separated, not empty, no
// leading or trailing slash, no empty, ".", ".." or backslash-containing components, no
// NUL or control characters, within the length and depth limits.
func CheckPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("path is longer than %d bytes", maxPathLen)
	}
	if err := checkSafeText("path", p); err != nil {
		return err
	}
	if p[0] == '/' {
		return fmt.Errorf("path %q is absolute", p)
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxPathDepth {
		return fmt.Errorf("path %q is deeper than %d components", p, maxPathDepth)
	}
	for _, c := range parts {
		switch {
		case c == "":
			return fmt.Errorf("path %q has an empty component", p)
		case c == "." || c == "..":
			return fmt.Errorf("path %q has a %q component", p, c)
		case strings.ContainsRune(c, '\\'):
			return fmt.Errorf("path %q contains a backslash", p)
		}
	}
	return nil
}

func (n *Node) validate() error {
	switch n.Type {
	case TypeFile:
		if !hexRE.MatchString(n.SHA256) {
			return fmt.Errorf("file node needs a lowercase hex sha256, got %q", n.SHA256)
		}
		if n.Size < 0 || n.Size > maxFileSize {
			return fmt.Errorf("size %d out of range", n.Size)
		}
		if n.Link != "" {
			return errors.New("file node has a link")
		}
	case TypeDir:
		if n.SHA256 != "" || n.Size != 0 || n.Link != "" {
			return errors.New("directory node has content fields")
		}
	case TypeSymlink:
		if n.SHA256 != "" || n.Size != 0 || n.Mode != "" {
			return errors.New("symlink node has content or mode fields")
		}
		if n.Link == "" || len(n.Link) > maxLinkLen {
			return fmt.Errorf("symlink text %q is empty or longer than %d bytes", n.Link, maxLinkLen)
		}
		return checkSafeText("symlink text", n.Link)
	default:
		return fmt.Errorf("unknown node type %q", n.Type)
	}
	if !modeRE.MatchString(n.Mode) {
		return fmt.Errorf("mode %q: want four octal digits", n.Mode)
	}
	return nil
}

func (f *File) validate() error {
	for _, n := range []*Node{f.Base, f.Target} {
		if n != nil {
			if err := n.validate(); err != nil {
				return err
			}
		}
	}
	needBase, needTarget := true, true
	wantPayload := f.Target != nil && f.Target.Type == TypeFile
	switch f.Op {
	case OpAdd:
		needBase = false
	case OpDelete:
		needTarget, wantPayload = false, false
	case OpReplace:
	case OpPatch:
		if f.Base == nil || f.Target == nil || f.Base.Type != TypeFile || f.Target.Type != TypeFile {
			return errors.New("patch needs a file base and a file target")
		}
	case OpMode:
		wantPayload = false
		if f.Base == nil || f.Target == nil || f.Base.Type == TypeSymlink || f.Base.Type != f.Target.Type ||
			f.Base.SHA256 != f.Target.SHA256 || f.Base.Size != f.Target.Size || f.Base.Mode == f.Target.Mode {
			return errors.New("mode change needs the same file or directory with another mode")
		}
	case OpLink:
		wantPayload = false
		if f.Base == nil || f.Target == nil || f.Base.Type != TypeSymlink || f.Target.Type != TypeSymlink || f.Base.Link == f.Target.Link {
			return errors.New("symlink change needs two symlinks with different targets")
		}
	case OpPin:
		wantPayload = false
		if f.Base == nil || f.Target == nil || *f.Base != *f.Target {
			return errors.New("pin needs identical base and target")
		}
	default:
		return fmt.Errorf("unknown op %q", f.Op)
	}
	if needBase != (f.Base != nil) {
		return fmt.Errorf("op %s: base node must be %s", f.Op, presence(needBase))
	}
	if needTarget != (f.Target != nil) {
		return fmt.Errorf("op %s: target node must be %s", f.Op, presence(needTarget))
	}
	if f.Op == OpReplace && *f.Base == *f.Target {
		return errors.New("replace with identical base and target")
	}
	if wantPayload != (f.Payload != nil) {
		return fmt.Errorf("op %s: payload must be %s", f.Op, presence(wantPayload))
	}
	if p := f.Payload; p != nil {
		if !hexRE.MatchString(p.SHA256) {
			return fmt.Errorf("payload needs a lowercase hex sha256, got %q", p.SHA256)
		}
		if p.Size < 0 || p.Size > maxFileSize {
			return fmt.Errorf("payload size %d out of range", p.Size)
		}
		c, ok := codecs[p.Codec]
		if !ok {
			return fmt.Errorf("unknown payload codec %q", p.Codec)
		}
		if c.delta != (f.Op == OpPatch) {
			return fmt.Errorf("codec %q cannot be used with op %s", p.Codec, f.Op)
		}
		if len(payloadMemberRoot)+len(f.Path)+1+len(c.ext) > maxMemberName {
			return fmt.Errorf("path is too long for a payload member name (limit %d bytes)", maxMemberName-len(payloadMemberRoot)-1-len(c.ext))
		}
	}
	return nil
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

// ParseMode parses a node mode such as "0644".
func ParseMode(s string) (uint32, error) {
	if !modeRE.MatchString(s) {
		return 0, fmt.Errorf("mode %q: want four octal digits", s)
	}
	v, err := strconv.ParseUint(s, 8, 32)
	return uint32(v), err
}

// FormatMode formats permission bits (including setuid, setgid, sticky) as four octal digits.
func FormatMode(perm uint32) string {
	return fmt.Sprintf("%04o", perm&0o7777)
}

// ParseTime parses an RFC 3339 time as used in not_after.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// Component returns the component named name, or nil.
func (m *Manifest) Component(name string) *Component {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i]
		}
	}
	return nil
}
