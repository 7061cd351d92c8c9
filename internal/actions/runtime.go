package actions

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// DefaultAnnotationLimit is how many annotations of each level a Runtime
// emits unless WithAnnotationLimit says otherwise. GitHub shows about 10 errors
// and 10 warnings per step and drops the rest silently.
const DefaultAnnotationLimit = 10

// Runtime reads inputs from and writes results to the GitHub Actions runner
// of the current step. Make one with New and share it; the zero value is not
// usable.
type Runtime struct {
	getenv  func(string) string
	stdout  io.Writer
	enabled bool
	limit   int

	// randRead fills delimiters with randomness; tests replace it to force
	// a delimiter that collides with the value.
	randRead func([]byte) (int, error)

	mu              sync.Mutex
	outputBytes     int
	emitted         map[Level]int
	overflow        []Annotation
	overflowFlushed int
	summary         strings.Builder
	secrets         map[string]struct{} // every secret and secret line, for Redact
	masked          map[string]struct{} // lines already given to add-mask
	redactor        *strings.Replacer
}

// Option configures a Runtime made by New.
type Option func(*Runtime)

// WithGetenv makes the Runtime read environment variables, including the
// paths of the GITHUB_* files, through getenv instead of os.Getenv. A nil
// getenv is ignored.
func WithGetenv(getenv func(string) string) Option {
	return func(r *Runtime) {
		if getenv != nil {
			r.getenv = getenv
		}
	}
}

// WithStdout makes the Runtime write workflow commands to w instead of
// os.Stdout. The runner only recognises commands on the step's standard
// output, so anything but os.Stdout is for tests. A nil w is ignored.
func WithStdout(w io.Writer) Option {
	return func(r *Runtime) {
		if w != nil {
			r.stdout = w
		}
	}
}

// WithAnnotationLimit makes Annotate emit at most n annotations of each level
// and keep the rest for Overflow and the step summary. A negative n counts as
// zero, which sends every annotation to the summary.
func WithAnnotationLimit(n int) Option {
	return func(r *Runtime) {
		r.limit = max(n, 0)
	}
}

// New returns a Runtime for the current process; make one per process and
// share it, since the limits on annotations and outputs are counted per
// Runtime. It decides once, from GITHUB_ACTIONS, whether it runs on GitHub
// Actions.
func New(opts ...Option) *Runtime {
	r := &Runtime{
		getenv:   os.Getenv,
		stdout:   os.Stdout,
		limit:    DefaultAnnotationLimit,
		randRead: rand.Read,
		emitted:  make(map[Level]int),
		secrets:  make(map[string]struct{}),
		masked:   make(map[string]struct{}),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(r)
		}
	}
	r.enabled = r.getenv("GITHUB_ACTIONS") == "true"
	return r
}

// Enabled reports whether the process runs as a step of a GitHub Actions job,
// that is whether GITHUB_ACTIONS is "true". Callers use it only to choose
// between human-readable and Actions output; every other method already
// behaves correctly either way.
func (r *Runtime) Enabled() bool {
	return r.enabled
}

// Input returns the value of the action input name, with surrounding white
// space trimmed, or "" if it is unset. The input is read from the environment
// variable "INPUT_" followed by name upper-cased with '-' replaced by '_';
// Promote's composite actions map every snake_case input to that variable
// explicitly, because GitHub gives composite actions no INPUT_* variables.
//
// Off GitHub Actions, Input returns "" so that stray INPUT_* variables on a
// laptop change nothing.
func (r *Runtime) Input(name string) string {
	if !r.enabled {
		return ""
	}
	return strings.TrimSpace(r.getenv(inputEnv(name)))
}

// ApplyInputs fills every flag of fs that was not set on the command line from
// the matching action input, so that each subcommand takes composite-action
// inputs and command-line flags alike, with the command line winning. The
// input of flag "max-parallel" is "max_parallel", read from
// INPUT_MAX_PARALLEL; an empty input leaves the flag's default. Call it after
// fs.Parse.
//
// Off GitHub Actions, ApplyInputs does nothing, so that stray INPUT_*
// variables on a laptop change nothing.
//
// An input the flag rejects leaves the flag as it was and makes an error
// naming the input; every other input is still applied, and all such errors
// are joined.
func (r *Runtime) ApplyInputs(fs *flag.FlagSet) error {
	if !r.enabled || fs == nil {
		return nil
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var unset []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !set[f.Name] {
			unset = append(unset, f)
		}
	})
	var errs []error
	for _, f := range unset {
		v := r.Input(f.Name)
		if v == "" {
			continue
		}
		prev := f.Value.String()
		if err := fs.Set(f.Name, v); err != nil {
			// The standard flag values store a zero before reporting a
			// parse error; put the previous value back.
			_ = f.Value.Set(prev)
			errs = append(errs, fmt.Errorf("input %q: invalid value %q: %w", inputName(f.Name), v, err))
		}
	}
	return errors.Join(errs...)
}

// inputName is the snake_case action input that feeds the flag named name.
func inputName(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "-", "_"))
}

// inputEnv is the environment variable that holds the input named name.
func inputEnv(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Context returns the github context of the run, read from the GITHUB_*
// environment variables and the event payload file, as go-githubactions
// parses them. It works off GitHub Actions too, returning mostly empty
// fields.
func (r *Runtime) Context() (*githubactions.GitHubContext, error) {
	return githubactions.New(githubactions.WithGetenv(r.getenv)).Context()
}

// RunURL returns the web address of the current workflow run,
// $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID, followed
// by /attempts/$GITHUB_RUN_ATTEMPT when the attempt is known, so that a link
// points at the attempt that wrote it. The server defaults to
// https://github.com. RunURL returns "" when the repository or the run ID is
// unknown.
func (r *Runtime) RunURL() string {
	repo, id := r.getenv("GITHUB_REPOSITORY"), r.getenv("GITHUB_RUN_ID")
	if repo == "" || id == "" {
		return ""
	}
	server := strings.TrimRight(r.getenv("GITHUB_SERVER_URL"), "/")
	if server == "" {
		server = "https://github.com"
	}
	u := server + "/" + repo + "/actions/runs/" + id
	if attempt := r.getenv("GITHUB_RUN_ATTEMPT"); attempt != "" {
		u += "/attempts/" + attempt
	}
	return u
}

// IDToken requests the job's GitHub OIDC token for audience (the job needs
// `permissions: id-token: write`) and masks it. It is how Promote logs in to
// Vault without a long-lived secret.
func (r *Runtime) IDToken(ctx context.Context, audience string) (string, error) {
	if r.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" {
		return "", errors.New("no GitHub OIDC token here: give the job `permissions: id-token: write`, or use Vault token auth outside GitHub Actions")
	}
	token, err := githubactions.New(githubactions.WithGetenv(r.getenv), githubactions.WithWriter(io.Discard)).GetIDToken(ctx, audience)
	if err != nil {
		return "", fmt.Errorf("request the GitHub OIDC token: %w", err)
	}
	if err := r.Mask(token); err != nil {
		return "", err
	}
	return token, nil
}
