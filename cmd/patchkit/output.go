package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"
)

// formatBytes renders a byte count with binary units: "812 B", "12.3 KiB", "92.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// formatRatio renders part/whole as a percentage, or "-" when whole is zero.
func formatRatio(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	r := 100 * float64(part) / float64(whole)
	switch {
	case r < 0.01 && part > 0:
		return "<0.01%"
	case r < 10:
		return fmt.Sprintf("%.2f%%", r)
	}
	return fmt.Sprintf("%.1f%%", r)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// stderrIsTerminal reports whether progress output would reach a person.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openBundle opens the bundle file at path and reads its manifest and signatures; the
// caller reads the payloads through r, then closes f.
func openBundle(path string) (f *os.File, r *bundle.Reader, err error) {
	if f, err = os.Open(path); err != nil {
		return nil, nil, err
	}
	if r, err = bundle.NewReader(f); err != nil {
		err = notABundle(path, f, err)
		f.Close()
		return nil, nil, err
	}
	return f, r, nil
}

// notABundle explains a reader error on a file that is not a bundle at all (a key, a
// manifest, a JSON file): it does not even begin with a tar header. A damaged bundle,
// or a tar file of something else, keeps the reader's error, which names the member.
func notABundle(path string, f io.ReaderAt, err error) error {
	var h [512]byte
	if n, _ := f.ReadAt(h[:], 0); n == len(h) && string(h[257:262]) == "ustar" {
		return err
	}
	return withHint(&notBundleError{path, err}, "a bundle is a tar file whose first member is manifest.json, as patchkit create writes it")
}

// notBundleError keeps the reader's error for the exit status, not for the message.
type notBundleError struct {
	path string
	err  error
}

func (e *notBundleError) Error() string {
	return e.path + " is not a patchkit bundle (it is not a tar file)"
}
func (e *notBundleError) Unwrap() error { return e.err }

// checkOutput refuses to replace an existing output file unless force is set, so a
// signed bundle is never silently replaced by an unsigned one.
func checkOutput(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return withHint(fmt.Errorf("%s already exists: refusing to overwrite it", path), "pass --force to replace it, or choose another -o")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// readBounded reads a small file whole, refusing one larger than limit.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// signatureHint gives a failed signature check its next step: an unsigned bundle is to
// be signed; a signed one names keys the trust flags do not hold.
func signatureHint(err error, file string, signatures int) error {
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != verify.CheckSignatures {
		return err
	}
	if signatures == 0 {
		return withHint(err, fmt.Sprintf("the bundle is unsigned: sign it with \"patchkit sign %s --key release.key\", then verify again", file))
	}
	return withHint(err, fmt.Sprintf("check the trusted keys or identities and --threshold; \"patchkit inspect %s\" lists the key fingerprints that signed it", file))
}
