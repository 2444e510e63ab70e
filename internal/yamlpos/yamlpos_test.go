package yamlpos

import (
	"testing"

	"sigs.k8s.io/yaml"
)

type doc struct {
	Keys []struct {
		Path string `json:"path"`
	} `json:"keys"`
	Threshold int `json:"threshold"`
}

func TestWrap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"keys:\n  - path: a.pub\nthresold: 2\n", `line 3: unknown field "thresold" (a typo?)`},
		{"keys:\n  - path: a.pub\n    bogus: 1\n", `line 3: unknown field "bogus" (a typo?)`},
		{"keys:\n  - path: a.pub\nthreshold: two\n", "line 3: field threshold: want int, not string"},
		{"keys:\n - path: a\n  bad: [\n", "line 2: did not find expected '-' indicator"},
	} {
		var d doc
		err := Wrap([]byte(tc.in), yaml.UnmarshalStrict([]byte(tc.in), &d))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.in, err, tc.want)
		}
	}
	if Wrap(nil, nil) != nil {
		t.Fatal("nil error wrapped")
	}
}
