// Package yamlpos turns the errors of sigs.k8s.io/yaml, which decodes YAML by way of
// JSON and so loses positions, back into "line N: ..." messages a person can act on.
package yamlpos

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

var (
	unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)
	typeErrorRE    = regexp.MustCompile(`cannot unmarshal (\S+) into Go struct field [^ ]*?\.?([A-Za-z0-9_]+) of type (\S+)`)
	lineRE         = regexp.MustCompile(`yaml: line (\d+): (.*)`)
	prefixRE       = regexp.MustCompile(`^(error converting YAML to JSON: |error unmarshaling JSON: while decoding JSON: )+(json: )?`)
)

// Error is a decoding error at a line of a YAML document.
type Error struct {
	Line int // 1-based; 0 when unknown
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Wrap returns err, an error of sigs.k8s.io/yaml's Unmarshal or UnmarshalStrict on
// data, as an [*Error] with the line of the key it concerns: for an unknown field the
// first key of that name, for a type mismatch the first key of the field's JSON name,
// for a syntax error the line the YAML parser gave. nil stays nil.
func Wrap(data []byte, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	msg := prefixRE.ReplaceAllString(err.Error(), "")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{Line: n, Msg: m[2], Err: err}
	}
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return &Error{Line: keyLine(data, m[1]), Msg: fmt.Sprintf("unknown field %q (a typo?)", m[1]), Err: err}
	}
	if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
		return &Error{Line: keyLine(data, m[2]), Msg: fmt.Sprintf("field %s: want %s, not %s", m[2], m[3], m[1]), Err: err}
	}
	return &Error{Msg: msg, Err: err}
}

// keyLine returns the line of the first mapping key named key in data, or 0.
func keyLine(data []byte, key string) int {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return 0
	}
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					return n.Content[i].Line
				}
			}
		}
		for _, c := range n.Content {
			if l := walk(c); l != 0 {
				return l
			}
		}
		return 0
	}
	return walk(&root)
}
