package bundle

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The --spec schema lives here, with one strict parser (issue 12).
func TestParseSpec(t *testing.T) {
	t.Parallel()
	s, err := ParseSpec([]byte(`label: "2.50.6 (a)"
sequence: 2
not_after: 2027-01-31T00:00:00Z
components:
  - {name: webkit, base: old/wk, target: /abs/new, root: usr/lib, base_version: "1"}
`), "spec")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Components[0]; c.Base != filepath.Join("spec", "old/wk") || c.Target != "/abs/new" {
		t.Fatalf("paths not resolved from the spec's directory: %+v", c)
	}
	o, err := s.CreateOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Label != "2.50.6 (a)" || o.Sequence != 2 || !o.NotAfter.Equal(time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)) ||
		len(o.Components) != 1 || o.Components[0].Root != "usr/lib" {
		t.Fatalf("options %+v", o)
	}
	for _, tc := range []struct{ doc, want string }{
		{"labels: x\ncomponents: [{name: a, base: b, target: c, base_version: '1'}]", `unknown field "labels"`},
		{"label: x\nlabel: y\ncomponents: [{name: a, base: b, target: c, base_version: '1'}]", `"label" already set`},
		{"label: x\ncomponents: []", "no components"},
		{"label: x\nsequence: 1.5\ncomponents: [{name: a}]", "cannot unmarshal"},
		{strings.Repeat(" ", maxSpecSize+1), "larger than"},
	} {
		if _, err := ParseSpec([]byte(tc.doc), "."); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.doc, err, tc.want)
		}
	}
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Components: []SpecComponent{{Name: "a", Base: "b", Target: "c", BaseVersion: "1"}}}, "no label"},
		{Spec{Label: "x", Components: []SpecComponent{{Name: "a", Base: "b", BaseVersion: "1"}}}, `component "a" needs name, base, target and base_version`},
		{Spec{Label: "x", NotAfter: "tomorrow", Components: []SpecComponent{{Name: "a", Base: "b", Target: "c", BaseVersion: "1"}}}, "not_after"},
	} {
		if _, err := tc.s.CreateOptions(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
}
