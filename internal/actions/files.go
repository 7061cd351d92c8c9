package actions

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MaxOutputBytes is how many bytes of outputs one process may write to
// GITHUB_OUTPUT. GitHub allows 1 MB of outputs per job; larger values belong
// in a file whose path is the output.
const MaxOutputBytes = 1 << 20

// maxEnvEntry bounds one "NAME=value" environment entry. Linux refuses to
// start a process whose environment holds a longer string (MAX_ARG_STRLEN,
// 128 KiB with its terminating NUL), so a larger value in GITHUB_ENV would
// break every later step.
const maxEnvEntry = 128 << 10

// delimiterPrefix starts every heredoc delimiter; 32 random hex digits follow.
const delimiterPrefix = "ghadelimiter_"

// maxDelimiterTries bounds the search for a delimiter absent from the value.
// With 128 random bits a second try is already a freak event.
const maxDelimiterTries = 8

// ErrOutputLimit reports that an output would take the process past
// MaxOutputBytes.
var ErrOutputLimit = errors.New("outputs are limited to 1 MiB per job")

// SetOutput sets the step output name to value by appending it to the file
// named by GITHUB_OUTPUT. The value is written as a heredoc whose delimiter is
// random and absent from the value, so no value can forge other outputs.
// The name may hold only ASCII letters, digits, '_' and '-'. SetOutput
// refuses, with an error wrapping ErrOutputLimit, a value that would take
// this process's outputs past MaxOutputBytes.
func (r *Runtime) SetOutput(name, value string) error {
	if !r.enabled {
		return nil
	}
	if !validOutputName(name) {
		return fmt.Errorf("output name %q is invalid: use only ASCII letters, digits, '_' and '-'", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.heredoc(name, value)
	if err != nil {
		return fmt.Errorf("output %q: %w", name, err)
	}
	if r.outputBytes+len(rec) > MaxOutputBytes {
		return fmt.Errorf("output %q: its %d bytes would take this process's outputs past %d bytes (%d already written); write the value to a file and output the file's path instead: %w",
			name, len(rec), MaxOutputBytes, r.outputBytes, ErrOutputLimit)
	}
	if err := r.appendFile("GITHUB_OUTPUT", rec); err != nil {
		return fmt.Errorf("output %q: %w", name, err)
	}
	r.outputBytes += len(rec)
	return nil
}

// SetEnv sets the environment variable name to value for the later steps of
// the job by appending it to the file named by GITHUB_ENV, as a heredoc with
// a random delimiter like SetOutput. The name must be a portable shell name:
// ASCII letters, digits and '_', not starting with a digit. SetEnv refuses a
// "name=value" entry longer than 128 KiB, which Linux would refuse to pass to
// any later process.
func (r *Runtime) SetEnv(name, value string) error {
	if !r.enabled {
		return nil
	}
	if !validEnvName(name) {
		return fmt.Errorf("environment variable name %q is invalid: use only ASCII letters, digits and '_', not starting with a digit", name)
	}
	if n := len(name) + len(value) + 2; n > maxEnvEntry {
		return fmt.Errorf("environment variable %q: its %d bytes exceed the %d bytes Linux allows one variable; write the value to a file and pass the file's path instead", name, n, maxEnvEntry)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.heredoc(name, value)
	if err != nil {
		return fmt.Errorf("environment variable %q: %w", name, err)
	}
	if err := r.appendFile("GITHUB_ENV", rec); err != nil {
		return fmt.Errorf("environment variable %q: %w", name, err)
	}
	return nil
}

// AddPath prepends dir to PATH for the later steps of the job by appending it
// to the file named by GITHUB_PATH. The file holds one directory per line, so
// AddPath refuses an empty dir and one containing a line break, which would
// add a second, unintended directory.
func (r *Runtime) AddPath(dir string) error {
	if !r.enabled {
		return nil
	}
	if dir == "" || strings.ContainsAny(dir, "\r\n") {
		return fmt.Errorf("path directory %q is invalid: it must be non-empty and hold no line break", dir)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.appendFile("GITHUB_PATH", []byte(dir+"\n")); err != nil {
		return fmt.Errorf("path directory %q: %w", dir, err)
	}
	return nil
}

// heredoc encodes one name and value the way the runner reads GITHUB_OUTPUT
// and GITHUB_ENV: "name<<DELIM", the value, then DELIM alone on a line. The
// runner ends the value at the first line equal to DELIM, so DELIM must not
// occur in the value; a fresh random one per record also keeps a value from
// guessing the delimiter of any other record. r.mu must be held, for randRead.
func (r *Runtime) heredoc(name, value string) ([]byte, error) {
	delim, err := r.delimiter(value)
	if err != nil {
		return nil, err
	}
	return []byte(name + "<<" + delim + "\n" + value + "\n" + delim + "\n"), nil
}

// delimiter returns "ghadelimiter_" followed by 32 random hex digits, drawn
// again while the result occurs in value.
func (r *Runtime) delimiter(value string) (string, error) {
	b := make([]byte, 16)
	for range maxDelimiterTries {
		if _, err := r.randRead(b); err != nil {
			return "", fmt.Errorf("drawing a random heredoc delimiter: %w", err)
		}
		d := delimiterPrefix + hex.EncodeToString(b)
		if !strings.Contains(value, d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("every one of %d random heredoc delimiters occurred in the value; the random source is broken", maxDelimiterTries)
}

// appendFile appends data in one write to the file named by the environment
// variable env. r.mu must be held, so records never interleave.
func (r *Runtime) appendFile(env string, data []byte) (err error) {
	path := r.getenv(env)
	if path == "" {
		return fmt.Errorf("$%s is not set; the runner sets it for every step, so run Promote as a step of a GitHub Actions job or unset GITHUB_ACTIONS", env)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("appending to $%s: %w", env, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("appending to $%s: %w", env, cerr)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("appending to $%s: %w", env, err)
	}
	return nil
}

// validOutputName reports whether name is non-empty and holds only ASCII
// letters, digits, '_' and '-', the characters GitHub allows in output IDs.
func validOutputName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !isLetter(c) && !isDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validEnvName reports whether name is a portable environment variable name.
func validEnvName(name string) bool {
	if name == "" || isDigit(name[0]) {
		return false
	}
	for _, c := range []byte(name) {
		if !isLetter(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
