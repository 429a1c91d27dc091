package localenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/clusterset/clusterset/test/proc"
)

// state is what `localenv up` leaves in Dir for `localenv down`.
type state struct {
	Dir       string    `json:"dir"`
	Processes []Process `json:"processes"`
	Created   []string  `json:"created"`
	OwnsDir   bool      `json:"ownsDir"`
}

func statePath(dir string) string { return filepath.Join(dir, "localenv.json") }

func (e *Env) writeState() error {
	s := state{Dir: e.Dir, Processes: e.Processes(), Created: e.createdIn, OwnsDir: e.ownsDir}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(statePath(e.Dir), data, 0o644)
}

func readState(dir string) (*state, error) {
	data, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	s := &state{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(dir), err)
	}
	return s, nil
}

// stateRunning reports whether dir holds a local clusterset with a live process.
func stateRunning(dir string) (bool, error) {
	s, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, p := range s.Processes {
		if proc.Alive(p.PID, s.Dir) {
			return true, nil
		}
	}
	return false, nil
}

// Down stops a local clusterset started with Detach (localenv up) in dir, by
// the PIDs it recorded, and removes what it created.
func Down(dir string) ([]Process, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no local clusterset (no %s)", dir, filepath.Base(statePath(dir)))
	}
	if err != nil {
		return nil, err
	}
	var stopped []Process
	var errs []error
	// Reverse start order: controller managers and apiservers before etcd.
	for i := len(s.Processes) - 1; i >= 0; i-- {
		p := s.Processes[i]
		if !proc.Alive(p.PID, s.Dir) {
			continue
		}
		if err := proc.Kill(p.PID, s.Dir, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err))
			continue
		}
		stopped = append(stopped, p)
	}
	if len(errs) > 0 {
		return stopped, errors.Join(errs...)
	}
	if s.OwnsDir {
		return stopped, os.RemoveAll(dir)
	}
	for _, p := range append(s.Created, statePath(dir)) {
		errs = append(errs, os.RemoveAll(p))
	}
	return stopped, errors.Join(errs...)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func isDNSLabel(s string) bool { return dnsLabel.MatchString(s) }
