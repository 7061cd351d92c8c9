// Package report writes the result of `promote mesh check`, a mesh.Report,
// for each of its readers: Text for a terminal or a log, JSON for scripts,
// SARIF for GitHub code scanning, Annotate for annotations on a pull request's
// diff, and Markdown for the job summary.
//
// Every output is deterministic: the same report gives the same bytes, so
// outputs can be diffed, cached and checked in as golden files.
package report
