// Package actions is Promote's only door to the GitHub Actions runtime. It reads
// the INPUT_* environment variables, appends to the files named by
// GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY, and writes
// workflow commands (annotations, masks, groups and debug lines) to standard
// output. No other package of Promote does any of that.
//
// It builds on github.com/sethvargo/go-githubactions, whose Command type
// escapes workflow commands correctly and whose Context reads the github
// context, and it replaces the parts of that library Promote cannot use:
// v1.3.0 writes every multi-line value with one fixed heredoc delimiter, so a
// value that contains the delimiter can inject further outputs or environment
// variables; it panics when a write fails; and it knows nothing of GitHub's
// limits on annotations, outputs and step summaries, beyond which GitHub drops
// data silently or fails the upload.
//
// A Runtime is inert off GitHub Actions: when GITHUB_ACTIONS is not "true",
// every method that writes does nothing and returns nil, and inputs read as
// empty, so callers branch only to choose human-readable output. Mask and
// Redact are the exception: secrets are remembered everywhere, so text that
// Promote prints itself never shows them, on a runner or on a laptop.
//
// A Runtime is safe for concurrent use by multiple goroutines.
package actions
