//go:build !linux

package atomicfile

import (
	"fmt"
	"os"
)

// renameNoReplace renames old to new, failing if new exists. Without renameat2 the check
// and the rename are two steps.
func renameNoReplace(old, new string) error {
	if _, err := os.Lstat(new); err == nil {
		return fmt.Errorf("renaming to %s: %w", new, os.ErrExist)
	}
	return os.Rename(old, new)
}
