package vectorgen

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
)

// vectors builds every vector (and writes the policies and the recall list).
func (g *gen) vectors() (vs []vector, err error) {
	defer func() {
		if r := recover(); r != nil {
			ge, ok := r.(genError)
			if !ok {
				panic(r)
			}
			err = ge.err
		}
	}()
	add := func(name, threat string, data []byte, expect []string, directives ...string) {
		v := vector{name: name, threat: threat, data: data, expect: expect}
		for _, d := range directives {
			if p, ok := strings.CutPrefix(d, "policy "); ok {
				v.policy = p
			} else {
				v.extra = append(v.extra, d)
			}
		}
		vs = append(vs, v)
	}

	g.valid = g.create(g.base, nil)
	g.manifest, g.payloads = parts(g.valid)
	g.m, err = bundle.ParseManifest(g.manifest)
	check(err)
	lay := layout(g.manifest, g.sign(g.manifest, "release1"), g.payloads)
	ok := assemble(lay)
	first := offset(lay, 2) // where the first payload member starts

	// Good bundles, and how the CLI is called.
	add("ok-signed", "a valid bundle signed by a trusted key", ok, outcome("0", "0", "0"))
	add("ok-two-signers", "a valid bundle signed by both keys of a 2-of-2 policy",
		assemble(layout(g.manifest, g.sign(g.manifest, "release1", "release2"), g.payloads)),
		outcome("0", "0", "0"), "policy policy-2of2.yaml")
	add("usage-unknown-flag", "a command called with a flag it does not have", ok,
		outcome("2 unknown flag", "2 unknown flag", "2 unknown flag"), "flags --no-such-flag")
	add("usage-no-trust-source", "verify and apply without any trust source (extract warns and goes on, for inspection)", ok,
		[]string{"inspect 0", "verify 2 no trust source", "extract 0 signatures not verified", "apply 2 no trust source"}, "policy none")
	add("interrupted", "SIGINT while the command reads the bundle (it gets half of it)", ok[:len(ok)/2],
		outcome("130", "130", "130"), "interrupt")

	// Signatures and trust.
	sig := g.sign(g.manifest, "release1")
	add("unsigned", "the signatures stripped", g.valid, refused(3, "signature"))
	add("untrusted-key", "signed by a key the policy does not trust",
		assemble(layout(g.manifest, g.sign(g.manifest, "untrusted"), g.payloads)), refused(3, "signature"))
	add("too-few-signers", "one signature where the policy needs two", ok, refused(3, "signature"), "policy policy-2of2.yaml")
	add("same-key-twice", "one key signing twice to pass a 2-of-2 threshold",
		assemble(layout(g.manifest, append(g.sign(g.manifest, "release1"), sig...), g.payloads)),
		refused(3, "signature"), "policy policy-2of2.yaml")
	om, _ := parts(g.create(g.base, func(o *bundle.CreateOptions) { o.Label = "1.0 (b)"; o.Sequence = 8 }))
	add("signature-swapped", "the signature of another bundle",
		assemble(layout(g.manifest, g.sign(om, "release1"), g.payloads)), refused(3, "signature"))
	tampered := replaceOnce(g.manifest, `"label":"1.0 (a)"`, `"label":"1.0 (A)"`)
	add("manifest-tampered", "the signed manifest changed after signing",
		assemble(layout(tampered, sig, g.payloads)), refused(3, "signature"))
	add("signature-wrong-media-type", "a signature member with a foreign media type",
		assemble(layout(g.manifest, [][]byte{replaceOnce(sig[0], "application/vnd.dev.sigstore.bundle", "application/vnd.dev.sigstore.bundlX")}, g.payloads)),
		refused(3, "signature"))
	for _, alg := range []string{sign.Ed25519, sign.RSA3072} {
		add("signature-key-confusion-"+alg, "an "+alg+" signature whose Sigstore bundle names the trusted ECDSA key's hint",
			assemble(layout(g.manifest, [][]byte{g.confused(alg)}, g.payloads)), refused(3, "signature"))
	}
	add("signature-garbage", "a signature member that is not a Sigstore bundle",
		assemble(layout(g.manifest, [][]byte{[]byte(`{"mediaType":`)}, g.payloads)), refused(3, "signature"))
	var flipped [][]byte
	for _, p := range g.payloads {
		c := bytes.Clone(p)
		c[len(c)/2] ^= 0x10
		flipped = append(flipped, c)
	}
	add("payload-tampered", "a byte of every payload flipped", assemble(layout(g.manifest, sig, flipped)), damaged("payload digest mismatch"))
	_, otherPayloads := parts(g.create(g.other, nil))
	add("payload-swapped", "the payloads of a bundle for another base", assemble(layout(g.manifest, sig, otherPayloads)), damaged(""))

	// Policy: replay, expiry, recall, component, base.
	signedCreate := func(baseDir string, mutate func(*bundle.CreateOptions)) ([]byte, string) {
		mb, payloads := parts(g.create(baseDir, mutate))
		return g.signedBy(mb, payloads), bundle.Digest(mb)
	}
	b, _ := signedCreate(g.base, func(o *bundle.CreateOptions) { o.Sequence = 3 })
	add("replayed-older", "a genuine bundle older than the policy's minimum sequence", b, refused(3, "sequence"))
	b, _ = signedCreate(g.base, func(o *bundle.CreateOptions) {
		o.NotAfter = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	})
	add("expired", "a genuine bundle past its not_after", b, refused(4, "expired"))
	b, recalled := signedCreate(g.base, func(o *bundle.CreateOptions) { o.Label = "1.0 (recalled)" })
	add("recalled", "a genuine bundle the signed recall list names", b, refused(4, "recalled"))
	g.policies(recalled)
	b, _ = signedCreate(g.base, func(o *bundle.CreateOptions) { o.Components[0].Name = "other" })
	add("wrong-component", "a genuine bundle for a component the policy does not allow", b, refused(3, "component"))
	b, _ = signedCreate(g.other, nil)
	add("wrong-base", "a genuine bundle made for another base tree", b, outcome("0", "3 base", "3 base mismatch"))

	// Paths and links, in validly signed manifests: the reader refuses them before any
	// signature matters.
	manifestVector := func(name, threat string, mutate func(map[string]any), substr string) {
		add(name, threat, g.signedBy(mutateJSON(g.manifest, mutate), g.payloads), damaged(substr))
	}
	pi, li := g.fileIndex(bundle.OpPatch), g.fileIndex(bundle.OpLink)
	setPath := func(p string) func(map[string]any) { return func(v map[string]any) { fileEntry(v, pi)["path"] = p } }
	manifestVector("path-traversal", "a path with .. components", setPath("usr/../../etc/passwd"), `".." component`)
	manifestVector("path-absolute", "an absolute path", setPath("/etc/passwd"), "is absolute")
	manifestVector("path-backslash", "a path with backslashes", setPath(`usr\lib\x`), "backslash")
	manifestVector("path-empty-component", "a path with an empty component", setPath("usr//lib/libdemo.so.1"), "empty component")
	setLink := func(l string) func(map[string]any) {
		return func(v map[string]any) { fileEntry(v, li)["target"].(map[string]any)["link"] = l }
	}
	// A link's text is data (absolute and outward links are valid content, as in real OS
	// trees); writing through a link is the attack: a file placed below one.
	below := func(l string) func(map[string]any) {
		return func(v map[string]any) {
			setLink(l)(v)
			for _, f := range files(v) {
				if f := f.(map[string]any); f["path"] == "usr/lib/new.conf" {
					f["path"] = "usr/lib/libdemo.so/new.conf"
				}
			}
		}
	}
	manifestVector("link-escape", "a file below a symlink whose text leaves the tree", below("../../../etc"), "lies below usr/lib/libdemo.so, a symlink")
	manifestVector("link-absolute", "a file below a symlink to an absolute path", below("/etc"), "lies below usr/lib/libdemo.so, a symlink")
	manifestVector("duplicate-path", "a file listed twice", func(v map[string]any) {
		v["files"] = append(files(v)[:pi+1], files(v)[pi:]...)
	}, "listed twice")
	manifestVector("unsorted-paths", "files out of order", func(v map[string]any) {
		fs := files(v)
		fs[0], fs[1] = fs[1], fs[0]
	}, "files are not sorted")
	manifestVector("unknown-op", "a file operation the format does not define", func(v map[string]any) { fileEntry(v, pi)["op"] = "chown" }, "unknown op")
	manifestVector("unknown-codec", "a payload codec the reader does not know", func(v map[string]any) {
		fileEntry(v, pi)["payload"].(map[string]any)["codec"] = "lzma"
	}, "unknown payload codec")

	// JSON tricks in a signed manifest.
	js := func(name, threat, from, to, substr string) {
		add(name, threat, g.signedBy(replaceOnce(g.manifest, from, to), g.payloads), damaged(substr))
	}
	js("json-duplicate-key", "a key given twice", `"label":"1.0 (a)"`, `"label":"1.0 (a)","label":"evil"`, "canonical")
	js("json-unknown-field", "a field the format does not define", `{"advisories"`, `{"aaa":true,"advisories"`, "unknown field")
	js("json-big-number", "an integer past int64", `"sequence":7`, `"sequence":99999999999999999999999`, "manifest")
	js("json-float-number", "an integer written as a float", `"sequence":7`, `"sequence":7.0`, "manifest")
	js("json-invalid-utf8", "a string that is not UTF-8", `"label":"1.0 (a)"`, "\"label\":\"1.0 \xff(a)\"", "UTF-8")
	js("json-deep-nesting", "10,000 nested arrays", `"advisories":["CVE-2026-0001"]`, `"advisories":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000), "manifest")
	js("json-unknown-format", "a format version the reader does not know", `"format":"patchkit.bundle/v1"`, `"format":"patchkit.bundle/v9"`, "unsupported manifest format")
	js("json-whitespace", "white space between tokens", `,"files"`, `, "files"`, "canonical")
	js("json-trailing-space", "white space after the manifest object", string(g.manifest), string(g.manifest)+" ", "canonical")
	js("json-escaped-char", "an escape where the canonical form has the character", `"label":"1.0 (a)"`, `"label":"1.0 \u0028a)"`, "canonical")
	add("manifest-too-large", "a manifest header declaring more than the 16 MiB limit", hugeManifest(), damaged("more than the limit"))

	// Sizes: decompression bomb and delta tricks, all validly signed.
	add("decompression-bomb", "a 4 MiB payload whose manifest declares 100 bytes", g.bomb(),
		refused(3, "more bytes than the manifest declares"))
	add("zstd-frame-too-large", "a payload of one zstd frame holding 64 MiB (the limit is 8 MiB)", g.bigFrame(),
		refused(3, "holds more than 8388608 bytes"))
	for name, patch := range g.deltaTricks() {
		mb := mutateJSON(g.manifest, func(v map[string]any) {
			p := fileEntry(v, pi)["payload"].(map[string]any)
			p["size"], p["sha256"] = len(patch), sha256Hex(patch)
		})
		pl := append([][]byte{}, g.payloads...)
		pl[g.payloadIndex(pi)] = patch
		add(name.name, name.threat, g.signedBy(mb, pl), refused(3, "corrupt"))
	}

	// Container: truncation, padding, order, duplicates, foreign tar encodings.
	add("empty-file", "a file of zero bytes", nil, damaged("truncated"))
	add("not-a-tar", "a file that is not a tar archive", []byte(strings.Repeat("PK\x03\x04 this is a zip file", 40)), damaged("bad size field"))
	add("truncated", "the file cut inside the last payload", ok[:len(ok)-1500], damaged("truncated"))
	add("truncated-in-header", "the file cut inside the first payload's header", ok[:first+100], damaged("truncated"))
	add("appended", "bytes after the end-of-archive marker", append(bytes.Clone(ok), "trailer"...), damaged("trailing data"))
	add("extra-end-block", "a third zero block after the end marker", append(bytes.Clone(ok), make([]byte, 512)...), damaged("trailing data"))
	add("missing-end-marker", "the end-of-archive marker cut off", ok[:len(ok)-1024], damaged("truncated"))
	add("half-end-marker", "half of the end-of-archive marker", ok[:len(ok)-512], damaged("end-of-archive marker: file is truncated"))
	flip := func(off int) []byte {
		c := bytes.Clone(ok)
		c[off] ^= 0x20
		return c
	}
	add("header-byte-flipped", "a byte of a payload's member name flipped", flip(first+2), damaged("header is not in canonical form"))
	add("header-size-flipped", "a digit of a payload's size field flipped", flip(first+130), damaged("bundle member"))
	add("nonzero-padding", "data in the manifest's block padding", flip(512+len(g.manifest)), damaged("padding is not zero"))
	add("nonzero-padding-payload", "data in a payload's block padding", flip(first+512+len(lay[2].data)), damaged("padding is not zero"))
	// Without their signatures in place, verify refuses some of these before reading on.
	add("two-manifests", "the manifest member twice", assemble(append([]member{lay[0], lay[0]}, lay[1:]...)),
		outcome("3 unexpected member", "3", "3"))
	add("duplicate-payload", "the last payload twice", assemble(append(append([]member{}, lay...), lay[len(lay)-1])), damaged("unexpected member"))
	add("payloads-reordered", "two payloads swapped", assemble(append(append(append([]member{}, lay[:2]...), lay[3], lay[2]), lay[4:]...)), damaged("unexpected member"))
	add("payload-missing", "the first payload left out", assemble(append(append([]member{}, lay[:2]...), lay[3:]...)), damaged("unexpected member, want"))
	add("unknown-member", "a member the manifest does not name", assemble(append(append([]member{}, lay...), member{"extra.txt", []byte("x")})), damaged(`"extra.txt": unexpected member`))
	add("signature-after-payload", "the signature moved after the payloads", assemble(append(append([]member{lay[0]}, lay[2:]...), lay[1])),
		outcome("3 unexpected member", "3", "3"))
	add("signature-out-of-order", "a second signature member where the first belongs",
		assemble(append([]member{lay[0], {bundle.SignatureMember(1), sig[0]}}, lay[2:]...)), damaged("unexpected signature member"))
	for _, v := range tarTricks() {
		add(v.name, v.threat, v.data, damaged(""))
	}
	return vs, nil
}

// fileIndex returns the index of the valid manifest's first file with op.
func (g *gen) fileIndex(op bundle.Op) int {
	for i, f := range g.m.Files {
		if f.Op == op {
			return i
		}
	}
	check(errExpected(op))
	return -1
}

type errExpected bundle.Op

func (e errExpected) Error() string { return "the vector trees produced no " + string(e) + " file" }

// payloadIndex returns the position among the payloads of file i's payload.
func (g *gen) payloadIndex(i int) int {
	n := 0
	for j := 0; j < i; j++ {
		if g.m.Files[j].Payload != nil {
			n++
		}
	}
	return n
}

// confused is a signature by the confusion key of alg whose Sigstore bundle names
// release1's ECDSA key (hint) as the verification key: a verifier that trusted the hint,
// or took the algorithm from the signature, would be confused.
func (g *gen) confused(alg string) []byte {
	release1, err := json.Marshal(string(g.keys["release1"].GetHint()))
	check(err)
	k := g.keys["confusion-"+alg]
	sig := g.sign(g.manifest, "confusion-"+alg)[0]
	own, err := json.Marshal(string(k.GetHint()))
	check(err)
	return replaceOnce(sig, string(own), string(release1))
}

// hugeManifest is a manifest header declaring more than the manifest size limit.
func hugeManifest() []byte {
	const maxManifestSize = 16 << 20
	var buf bytes.Buffer
	check(bundle.WriteMember(&buf, bundle.ManifestMember, make([]byte, maxManifestSize+1), created))
	return append(buf.Bytes()[:512:512], make([]byte, 512)...)
}

// zeros makes a bundle adding one file of n zero bytes and returns its manifest and
// payloads.
func (g *gen) zeros(n int) ([]byte, [][]byte) {
	dir := filepath.Join(g.tmp, fmt.Sprintf("zeros-%d", n))
	check(os.MkdirAll(filepath.Join(dir, "b"), 0o755))
	check(os.MkdirAll(filepath.Join(dir, "t"), 0o755))
	check(os.WriteFile(filepath.Join(dir, "t", "zeros"), make([]byte, n), 0o644))
	var buf bytes.Buffer
	_, err := bundle.Create(context.Background(), &buf, &bundle.CreateOptions{Label: "zeros", Sequence: 7, Created: created,
		Components: []bundle.Source{{Name: "demo", BaseVersion: "1.0-1", BaseDir: filepath.Join(dir, "b"), TargetDir: filepath.Join(dir, "t")}}})
	check(err)
	return parts(buf.Bytes())
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// bomb is a validly signed bundle whose payload decodes past its declared size.
func (g *gen) bomb() []byte {
	mb, payloads := g.zeros(4 << 20)
	mb = mutateJSON(mb, func(v map[string]any) {
		tg := fileEntry(v, 0)["target"].(map[string]any)
		tg["size"], tg["sha256"] = 100, sha256Hex(make([]byte, 100))
	})
	return g.signedBy(mb, payloads)
}

// bigFrame is a validly signed bundle of a 64 MiB file whose payload is one zstd frame
// (with an 8 MiB window): the format allows at most 8 MiB per frame, so a reader holds a
// bounded amount however a writer cut its frames.
func (g *gen) bigFrame() []byte {
	zeros := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(8<<20), zstd.WithEncoderConcurrency(1))
	check(err)
	frame := enc.EncodeAll(zeros, nil)
	check(enc.Close())
	mb, _ := g.zeros(100)
	mb = mutateJSON(mb, func(v map[string]any) {
		f := fileEntry(v, 0)
		tg, p := f["target"].(map[string]any), f["payload"].(map[string]any)
		tg["size"], tg["sha256"] = len(zeros), sha256Hex(zeros)
		p["size"], p["sha256"] = len(frame), sha256Hex(frame)
	})
	return g.signedBy(mb, [][]byte{frame})
}

type named struct{ name, threat string }

// deltaTricks are hostile pkdelta1 payloads for the valid bundle's patched file.
func (g *gen) deltaTricks() map[named][]byte {
	f := g.m.Files[g.fileIndex(bundle.OpPatch)]
	header := func(oldSize, newSize uint64) []byte {
		b := []byte("PKD\x01")
		b = binary.AppendUvarint(b, oldSize)
		return binary.AppendUvarint(b, newSize)
	}
	raw := func(s []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))<<1), s...) }
	segment := func(control []byte, extra []byte) []byte {
		b := []byte{0}
		b = append(b, raw(control)...)
		b = append(b, raw(nil)...)
		b = append(b, raw(nil)...)
		return append(b, raw(extra)...)
	}
	op := func(add, extra uint64, seek int64) []byte {
		b := binary.AppendUvarint(nil, add)
		b = binary.AppendUvarint(b, extra)
		return binary.AppendVarint(b, seek)
	}
	oldSize, newSize := uint64(f.Base.Size), uint64(f.Target.Size)
	return map[named][]byte{
		{"delta-copy-out-of-range", "a delta copy reading past the end of the base file"}: append(header(oldSize, newSize), segment(append(op(0, 0, int64(oldSize)-10), op(newSize, 0, 0)...), nil)...),
		{"delta-seek-negative", "a delta seek before the start of the base file"}:         append(header(oldSize, newSize), segment(op(0, 1, -5), []byte{1})...),
		{"delta-size-overflow", "a delta header declaring a 2^62-byte output"}:            header(oldSize, 1<<62),
		{"delta-output-too-long", "a delta op writing more than the declared size"}:       append(header(oldSize, newSize), segment(op(0, newSize+1, 0), make([]byte, newSize+1))...),
	}
}

// tarTricks are archives in tar encodings the reader never accepts.
func tarTricks() []vector {
	var out []vector
	for _, t := range []struct {
		name, threat string
		h            tar.Header
	}{
		{"tar-hardlink", "a hard link member", tar.Header{Name: "payloads/x", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}},
		{"tar-symlink", "a symlink member", tar.Header{Name: "payloads/x", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
		{"tar-pax-path", "a PAX record overriding the member path", tar.Header{Name: "manifest.json", Format: tar.FormatPAX, PAXRecords: map[string]string{"path": "../../etc/cron.d/x"}}},
		{"tar-gnu-longname", "a GNU long-name member", tar.Header{Name: strings.Repeat("a/", 80) + "manifest.json", Format: tar.FormatGNU}},
		{"tar-sparse", "a GNU sparse member", tar.Header{Name: "manifest.json", Typeflag: tar.TypeGNUSparse, Format: tar.FormatGNU}},
		{"tar-directory", "a directory member", tar.Header{Name: "payloads/", Typeflag: tar.TypeDir, Mode: 0o755}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		check(tw.WriteHeader(&t.h))
		check(tw.Close())
		out = append(out, vector{name: t.name, threat: t.threat, data: buf.Bytes()})
	}
	return out
}
