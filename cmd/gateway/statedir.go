// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// stateDirEnv names the directory where vigil keeps its state: the
// persistent sending queues and the baseline state (default-config.yaml
// uses ${env:VIGIL_STORAGE_DIR}). When it is not set, main sets it to
// defaultStateDir's answer before any configuration is read, so every
// configuration, the embedded one or the user's, can refer to it.
const stateDirEnv = "VIGIL_STORAGE_DIR"

// defaultStateDir returns the platform's state directory for vigil: the
// system one (/var/lib/vigil) for root, which is how vigil runs on a node
// (the Helm chart mounts a host path there), and the user's otherwise
// ($XDG_STATE_HOME/vigil, else ~/.local/state/vigil, as the XDG Base
// Directory specification puts it). A fixed directory under the
// world-writable /tmp would let any local user create it first.
func defaultStateDir(euid int, getenv func(string) string, homeDir func() (string, error)) (string, error) {
	if euid == 0 {
		return "/var/lib/vigil", nil
	}
	// The specification ignores a relative XDG_STATE_HOME.
	if x := getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "vigil"), nil
	}
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	if home == "" {
		return "", errors.New("the home directory is unknown")
	}
	return filepath.Join(home, ".local", "state", "vigil"), nil
}

// setStateDirDefault sets VIGIL_STORAGE_DIR to the default state directory
// unless it is set already.
func setStateDirDefault() error {
	if os.Getenv(stateDirEnv) != "" {
		return nil
	}
	dir, err := defaultStateDir(os.Geteuid(), os.Getenv, os.UserHomeDir)
	if err != nil {
		return fmt.Errorf("cannot choose a state directory (%w); set %s", err, stateDirEnv)
	}
	return os.Setenv(stateDirEnv, dir)
}
