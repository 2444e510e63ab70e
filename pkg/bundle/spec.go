package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
)

// Spec is a bundle description file (patchkit create --spec): the manifest fields and,
// per component, its base and target trees. YAML or JSON; unknown fields are refused.
type Spec struct {
	ID         string          `json:"id,omitempty"`
	Label      string          `json:"label,omitempty"`
	Sequence   int64           `json:"sequence,omitempty"`
	NotAfter   string          `json:"not_after,omitempty"` // RFC 3339
	Advisories []string        `json:"advisories,omitempty"`
	Activation string          `json:"activation,omitempty"`
	Supersedes []string        `json:"supersedes,omitempty"`
	Exclude    []string        `json:"exclude,omitempty"` // path.Match patterns, as CreateOptions.Exclude
	Components []SpecComponent `json:"components"`
}

// SpecComponent is one component of a [Spec].
type SpecComponent struct {
	Name          string `json:"name"`
	Base          string `json:"base"`   // base tree; relative paths are resolved from the spec file's directory
	Target        string `json:"target"` // target tree, likewise
	Root          string `json:"root,omitempty"`
	BaseVersion   string `json:"base_version"`
	TargetVersion string `json:"target_version,omitempty"`
}

const maxSpecSize = 1 << 20

// LoadSpec reads a spec file ([ParseSpec]); its trees are relative to its directory.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSpec(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	return s, nil
}

// ParseSpec decodes a spec strictly (unknown or duplicate fields refused, at most 1 MiB,
// at least one component) and resolves relative tree paths from dir.
func ParseSpec(b []byte, dir string) (*Spec, error) {
	if len(b) > maxSpecSize {
		return nil, fmt.Errorf("larger than %d bytes", maxSpecSize)
	}
	var s Spec
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, err
	}
	if len(s.Components) == 0 {
		return nil, errors.New("no components")
	}
	for i := range s.Components {
		c := &s.Components[i]
		c.Base, c.Target = relTo(dir, c.Base), relTo(dir, c.Target)
	}
	return &s, nil
}

func relTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// CreateOptions returns the [CreateOptions] s describes (the fields a spec has; the
// caller adds the rest). Every component needs a name, both trees and a base version;
// the label is required.
func (s *Spec) CreateOptions() (*CreateOptions, error) {
	if s.Label == "" {
		return nil, errors.New("no label")
	}
	c := &CreateOptions{
		ID: s.ID, Label: s.Label, Sequence: s.Sequence,
		Advisories: s.Advisories, Activation: s.Activation, Supersedes: s.Supersedes, Exclude: s.Exclude,
	}
	if s.NotAfter != "" {
		t, err := time.Parse(time.RFC3339, s.NotAfter)
		if err != nil {
			return nil, fmt.Errorf("not_after: %w", err)
		}
		c.NotAfter = t
	}
	for _, sc := range s.Components {
		if sc.Name == "" || sc.Base == "" || sc.Target == "" || sc.BaseVersion == "" {
			return nil, fmt.Errorf("component %q needs name, base, target and base_version", sc.Name)
		}
		c.Components = append(c.Components, Source{
			Name: sc.Name, Root: sc.Root, BaseVersion: sc.BaseVersion, TargetVersion: sc.TargetVersion,
			BaseDir: sc.Base, TargetDir: sc.Target,
		})
	}
	return c, nil
}
