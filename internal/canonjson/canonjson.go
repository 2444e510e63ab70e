// Package canonjson encodes the canonical JSON that patchkit signs: compact, object keys
// in the order encoding/json emits them (struct fields in declaration order, map keys
// sorted), no HTML escaping, no trailing newline.
package canonjson

import (
	"bytes"
	"encoding/json"
)

// Marshal returns the canonical encoding of v.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
