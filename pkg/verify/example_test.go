package verify_test

import (
	"fmt"

	"github.com/patchkit/patchkit/pkg/verify"
)

// The signed text of a recall list: canonical JSON, entries sorted by digest.
func ExampleMarshalRecallDocument() {
	doc, err := verify.MarshalRecallDocument(&verify.RecallDocument{
		Sequence: 4,
		Issued:   "2026-05-28T20:26:40Z",
		Entries: []verify.RecallEntry{
			{Digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Reason: "superseded & broken"},
			{Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Reason: "breaks TLS <1.3"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(doc))
	// Output:
	// {"entries":[{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","reason":"breaks TLS <1.3"},{"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","reason":"superseded & broken"}],"issued":"2026-05-28T20:26:40Z","sequence":4,"type":"patchkit.recall/v1"}
}

// A policy in YAML; relative key paths resolve from the policy's directory.
func ExampleParsePolicy() {
	_, err := verify.ParsePolicy([]byte("keys: [{path: release.pub}]\nthreshhold: 2\n"), ".")
	fmt.Println(err)
	// Output:
	// line 2: unknown field "threshhold" (a typo?)
}
