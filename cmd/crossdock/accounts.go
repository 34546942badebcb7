package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/deploy"
)

// defaultAccounts is the --accounts default: the example, relative to a
// checkout of the repository.
const defaultAccounts = "deploy/accounts.example.yaml"

// accountsFile returns the accounts file to start with. A named file is used
// as it is (a missing one is the hub's error to report). The default, when
// it is not there (the binary runs outside a checkout), is replaced by the
// example built into the binary, written once to the data directory so that
// it can be edited and re-read on SIGHUP like any accounts file.
func accountsFile(path, dataDir string, log *zap.Logger) (string, error) {
	if path != defaultAccounts {
		return path, nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	copyPath := filepath.Join(dataDir, "accounts.example.yaml")
	if _, err := os.Stat(copyPath); err == nil {
		log.Info("no accounts file at the default path: using the example's copy in the data directory",
			zap.String("default", path), zap.String("file", copyPath))
		return copyPath, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("--accounts: write the built-in example: %w", err)
	}
	if err := os.WriteFile(copyPath, deploy.AccountsExample, 0o600); err != nil {
		return "", fmt.Errorf("--accounts: write the built-in example: %w", err)
	}
	log.Info("no accounts file at the default path: started with the built-in example (development keys only)",
		zap.String("default", path), zap.String("file", copyPath))
	return copyPath, nil
}
