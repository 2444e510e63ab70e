package verify_test

import (
	"bytes"
	"github.com/patchkit/patchkit/internal/testcorpus"
	"strconv"
	"strings"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"
)

// members returns the offset of every tar header in data and the end of its data.
func members(t *testing.T, data []byte) (names []string, starts, ends []int) {
	for off := 0; off+512 <= len(data); {
		h := data[off : off+512]
		if h[0] == 0 {
			break
		}
		name := string(bytes.TrimRight(h[0:100], "\x00"))
		size, err := strconv.ParseInt(strings.TrimRight(string(h[124:135]), "\x00 "), 8, 64)
		if err != nil {
			t.Fatal(err)
		}
		names, starts, ends = append(names, name), append(starts, off), append(ends, off+512+int(size))
		off += 512 + int((size+511)/512*512)
	}
	return
}

// TestCorpusSignVerify: on the real libssl3 and WebKitGTK pairs, two keys sign,
// threshold 2 passes (with the base tree: every target rebuilt and hashed), one trusted
// key of the two fails (WebKitGTK skipped with -short or -race), and flipping a byte anywhere (sampled in every member's header,
// data and padding, and the end marker) fails verification.
func TestCorpusSignVerify(t *testing.T) {
	t.Parallel()
	for _, pair := range [][3]string{
		{"libssl3", "3.0.17-1~deb12u2", "3.0.22-1~deb12u2"},
		{"webkit2gtk", "2.50.6-1~deb12u1", "2.50.6-1~deb12u2"},
	} {
		t.Run(pair[0], func(t *testing.T) {
			t.Parallel()
			trees := testcorpus.Trees(t, pair[0], pair[1], pair[2])
			base, target := trees[0], trees[1]
			if (testing.Short() || raceEnabled) && pair[0] != "libssl3" {
				t.Skip("-short or -race: libssl3 only")
			}
			corpusSignVerify(t, pair[0], pair[1], base, target)
		})
	}
}

func corpusSignVerify(t *testing.T, component, baseVersion, base, target string) {
	var buf bytes.Buffer
	if _, err := bundle.Create(ctx, &buf, &bundle.CreateOptions{
		Label: "x (a)", Sequence: 22, NoDelta: raceEnabled, // delta search is slow under -race
		Components: []bundle.Source{{Name: component, BaseVersion: baseVersion, BaseDir: base, TargetDir: target}},
	}); err != nil {
		t.Fatal(err)
	}
	k1, pub1 := newKey(t, "k1")
	k2, pub2 := newKey(t, "k2")
	_, pub3 := newKey(t, "k3")
	data := signWith(t, buf.Bytes(), k1, k2)
	two := &verify.Policy{Keys: []verify.TrustedKey{pub1, pub2}, Threshold: 2}
	if _, err := verifyData(data, two, &verify.Options{BaseDir: base}); err != nil {
		t.Fatalf("threshold 2 with both keys: %v", err)
	}
	if _, err := verifyData(data, &verify.Policy{Keys: []verify.TrustedKey{pub1, pub3}, Threshold: 2}, nil); outcome(err) != "failed signatures" {
		t.Fatalf("one of two keys, threshold 2: %v", err)
	}

	names, starts, ends := members(t, data)
	if len(names) < 4 {
		t.Fatalf("members %v", names)
	}
	var offsets []int
	for i := range names {
		s, e := starts[i], ends[i]
		offsets = append(offsets, s, s+100, s+124, s+148, s+511, s+512, (s+512+e)/2, e-1)
		if e%512 != 0 {
			offsets = append(offsets, e) // padding
		}
	}
	last := ends[len(ends)-1]
	last = (last + 511) / 512 * 512
	offsets = append(offsets, last, last+700, len(data)-1)
	for _, off := range offsets {
		bad := bytes.Clone(data)
		bad[off] ^= 0x01
		if _, err := verifyData(bad, two, nil); err == nil {
			t.Errorf("flipping byte %d (member %s) still verifies", off, memberAt(names, starts, off))
		}
	}
	t.Logf("%d members, %d flipped bytes all refused", len(names), len(offsets))
}

func memberAt(names []string, starts []int, off int) string {
	n := "end"
	for i, s := range starts {
		if off >= s {
			n = names[i]
		}
	}
	return n
}
