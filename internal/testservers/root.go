package testservers

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
)

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testservers: no go.mod above the working directory")
		}
		dir = parent
	}
})

// RepoRoot returns the directory holding go.mod, found by walking up from
// the working directory (a test's working directory is its package folder).
func RepoRoot() (string, error) { return repoRoot() }
