package actions_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The tests in this file run actions/setup the way a user's job gets a
// release of it: a copy of the action's source with checksums.txt pinned by
// `install.sh pin` (as the release workflow does), and a local HTTP server in
// place of GitHub's release downloads, serving a release archive built here
// from the real promote binary.

// releaseVersion is the version of the release the tests make.
const releaseVersion = "v9.8.7"

// release is a released copy of the action and the archives of its release.
type release struct {
	root    string            // the copy of the repository, with checksums.txt pinned
	archive string            // the name of the archive for this machine
	assets  map[string][]byte // /<version>/<name> -> content
}

// releaseBinary builds promote stamped with releaseVersion, as the release
// does (-trimpath, -s -w).
func releaseBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "promote")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags=-s -w -X github.com/promote-dev/promote/internal/cli.Version="+releaseVersion,
		"-o", bin, "./cmd/promote")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runnerPlatform gives RUNNER_OS and RUNNER_ARCH for this machine and the
// platform's name in the release's archive names.
func runnerPlatform(t testing.TB) (runnerOS, runnerArch, platform string) {
	t.Helper()
	switch runtime.GOOS {
	case "linux":
		runnerOS = "Linux"
	case "darwin":
		runnerOS = "macOS"
	default:
		t.Skipf("the release test makes tar.gz archives; %s gets a zip", runtime.GOOS)
	}
	switch runtime.GOARCH {
	case "amd64":
		runnerArch = "X64"
	case "arm64":
		runnerArch = "ARM64"
	default:
		t.Skipf("promote is released for amd64 and arm64, not %s", runtime.GOARCH)
	}
	return runnerOS, runnerArch, runtime.GOOS + "_" + runtime.GOARCH
}

// tarGz makes a release archive as GoReleaser does: the binary and the
// README at the top level.
func tarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipArchive makes a release archive as GoReleaser does for Windows.
func zipArchive(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		// No Unix mode: Windows needs none, and the action must not
		// depend on one.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newRelease copies the repository's source, makes the release archives
// and pins their checksums in the copy's actions/setup with install.sh pin.
func newRelease(t testing.TB) *release {
	t.Helper()
	bin, err := os.ReadFile(releaseBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	_, _, platform := runnerPlatform(t)
	r := &release{root: t.TempDir(), assets: map[string][]byte{}}
	copySource(t, repoRoot(t), r.root)

	version := strings.TrimPrefix(releaseVersion, "v")
	var sums strings.Builder
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64", "windows_arm64"} {
		name := "promote_" + version + "_" + p + ".tar.gz"
		// Only this machine's archive is served and run; the others stand
		// for the rest of the release, whose lines pin requires.
		data := []byte("the " + p + " archive of " + releaseVersion)
		if strings.HasPrefix(p, "windows") {
			name = strings.TrimSuffix(name, ".tar.gz") + ".zip"
		}
		switch p {
		case platform:
			data = tarGz(t, map[string][]byte{"promote": bin, "README.md": []byte("# Promote\n")})
			r.archive = name
		case "windows_" + runtime.GOARCH:
			// This machine's binary under Windows' name, so that the
			// Windows path (zip, promote.exe) runs here too.
			data = zipArchive(t, map[string][]byte{"promote.exe": bin, "README.md": []byte("# Promote\n")})
		}
		r.assets["/"+releaseVersion+"/"+name] = data
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	checksums := filepath.Join(t.TempDir(), "checksums.txt")
	if err := os.WriteFile(checksums, []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(r.root, "actions", "setup", "install.sh"), "pin", releaseVersion, "promote-dev/promote", checksums)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh pin: %v\n%s", err, out)
	}
	return r
}

// copySource copies what a user's runner unpacks for the action: the
// repository without its git directory and local build output.
func copySource(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		switch rel {
		case ".git", ".tools", "bin", ".promote", filepath.Join("examples", ".promote"):
			// .git is a file in a worktree: SkipDir on a file would skip
			// the rest of its directory.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the source: %v", err)
	}
}

// serve serves assets as GitHub serves a release's downloads, and 404 for
// anything else.
func serve(t testing.TB, assets map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := assets[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// releaseJob is a job on a runner like this machine, without Go on PATH
// unless withGo, using the released action from srv.
func releaseJob(t testing.TB, srv *httptest.Server, withGo bool) *job {
	t.Helper()
	j := newJob(t)
	if !withGo {
		j.basePath = pathWithout(t, "go")
	}
	runnerOS, runnerArch, _ := runnerPlatform(t)
	j.env["RUNNER_OS"], j.env["RUNNER_ARCH"] = runnerOS, runnerArch
	j.env["PROMOTE_RELEASE_URL"] = srv.URL
	j.actionRef, j.actionRepository = "v9", "promote-dev/promote"
	return j
}

// pathWithout makes a directory of links to the tools the action uses, so
// that a step's PATH has them but not the one left out.
func pathWithout(t testing.TB, missing string) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "find", "sort", "xargs", "grep", "cut", "sha256sum", "uname", "mkdir", "cat", "tr", "curl", "tar", "gzip", "rm", "go"} {
		if tool == missing {
			continue
		}
		if p, err := exec.LookPath(tool); err == nil {
			if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return bin
}

// TestSetupFromRelease runs actions/setup from a released copy against a
// local release server: the pinned archive is installed without Go, a
// tampered one is refused, and a missing one falls back to a source build
// (or fails when PROMOTE_INSTALL=release).
func TestSetupFromRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds promote; skipped with -short")
	}
	t.Parallel()
	ctx := testContext(t)
	r := newRelease(t)
	setup := filepath.Join(r.root, "actions", "setup")
	archivePath := "/" + releaseVersion + "/" + r.archive

	t.Run("pinned archive is installed and runs", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, r.assets)
		j := releaseJob(t, srv, false)
		res := j.run(ctx, setup, nil, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		if res.outputs["from"] != "release" || res.outputs["version"] != releaseVersion {
			t.Errorf("outputs = %v, want from release and version %s", res.outputs, releaseVersion)
		}
		for _, want := range []string{srv.URL + archivePath, "matches the checksum pinned", "promote release " + releaseVersion + " installed (action ref v9 of promote-dev/promote)"} {
			if !strings.Contains(res.logs["prepare"], want) {
				t.Errorf("prepare log = %q, want it to contain %q", res.logs["prepare"], want)
			}
		}
		if !strings.HasPrefix(res.outputs["path"], j.runnerTemp) || j.env["PROMOTE_BIN"] != res.outputs["path"] {
			t.Errorf("path %q, PROMOTE_BIN %q; want the binary in RUNNER_TEMP, exported", res.outputs["path"], j.env["PROMOTE_BIN"])
		}
		if !strings.Contains(res.logs["install"], "the verified release binary") {
			t.Errorf("install log = %q", res.logs["install"])
		}
		if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(res.outputs["path"]), "*.download")); len(leftovers) > 0 {
			t.Errorf("the downloaded archive was left behind: %v", leftovers)
		}

		// A later Promote action in the job reuses it.
		again := j.run(ctx, setup, nil, nil)
		if again.stepError != nil || again.outputs["from"] != "job" {
			t.Errorf("second setup: error %v, from %q; want the binary of this job reused", again.stepError, again.outputs["from"])
		}
	})

	t.Run("windows runner gets the zip", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("unzip"); err != nil {
			t.Skip("unzip is not installed; Windows runners have it (Git for Windows) or 7z")
		}
		srv := serve(t, r.assets)
		j := releaseJob(t, srv, false)
		j.basePath += string(os.PathListSeparator) + filepath.Dir(lookPath(t, "unzip", os.Getenv("PATH")))
		j.env["RUNNER_OS"] = "Windows"
		res := j.run(ctx, setup, nil, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		zipName := "promote_" + strings.TrimPrefix(releaseVersion, "v") + "_windows_" + runtime.GOARCH + ".zip"
		if !strings.Contains(res.logs["prepare"], "/"+releaseVersion+"/"+zipName) {
			t.Errorf("prepare log = %q, want the download of %s", res.logs["prepare"], zipName)
		}
		if filepath.Base(res.outputs["path"]) != "promote.exe" || res.outputs["version"] != releaseVersion {
			t.Errorf("outputs = %v, want promote.exe reporting %s", res.outputs, releaseVersion)
		}
	})

	t.Run("wrong checksum is refused", func(t *testing.T) {
		t.Parallel()
		tampered := map[string][]byte{}
		for k, v := range r.assets {
			tampered[k] = v
		}
		tampered[archivePath] = tarGz(t, map[string][]byte{"promote": []byte("#!/bin/sh\necho tampered\n")})
		j := releaseJob(t, serve(t, tampered), true)
		res := j.run(ctx, setup, nil, nil)
		if res.stepError == nil {
			t.Fatal("setup succeeded with a tampered archive, want it refused")
		}
		log := res.logs["prepare"]
		for _, want := range []string{"::error", "checksum mismatch for ", "deleted unrun"} {
			if !strings.Contains(log, want) {
				t.Errorf("prepare log = %q, want it to contain %q", log, want)
			}
		}
		if strings.Contains(log, "building promote from source") {
			t.Errorf("prepare log = %q: a wrong checksum fell back to a source build", log)
		}
		if _, ran := res.steps["install"]; ran && len(res.steps["install"]) > 0 {
			t.Errorf("the install step ran after a refused download: %v", res.steps["install"])
		}
		dir := filepath.Join(j.runnerTemp, "promote")
		var files []string
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if len(files) > 0 {
			t.Errorf("files left from the refused download: %v", files)
		}
	})

	t.Run("missing asset with PROMOTE_INSTALL=release fails", func(t *testing.T) {
		t.Parallel()
		j := releaseJob(t, serve(t, nil), false)
		j.env["PROMOTE_INSTALL"] = "release"
		res := j.run(ctx, setup, nil, nil)
		if res.stepError == nil {
			t.Fatal("setup succeeded without the release asset, want it to fail")
		}
		want := "PROMOTE_INSTALL is release, but release " + releaseVersion + " has no archive " + r.archive + " at " + j.env["PROMOTE_RELEASE_URL"] + archivePath + " (HTTP 404)"
		if !strings.Contains(res.logs["prepare"], want) || !strings.Contains(res.logs["prepare"], "::error") {
			t.Errorf("prepare log = %q, want an ::error with %q", res.logs["prepare"], want)
		}
	})

	t.Run("other platforms and other source are not the release", func(t *testing.T) {
		t.Parallel()
		j := releaseJob(t, serve(t, r.assets), false)
		j.env["PROMOTE_INSTALL"] = "release"
		j.env["RUNNER_ARCH"] = "ARM"
		res := j.run(ctx, setup, nil, nil)
		if res.stepError == nil || !strings.Contains(res.logs["prepare"], "release "+releaseVersion+" has no binary for ") {
			t.Errorf("32-bit ARM runner: error %v, log %q; want no release binary for it", res.stepError, res.logs["prepare"])
		}

		// A copy whose Go source differs from the release's, as a branch
		// that merged a release commit and moved on would be.
		changed := t.TempDir()
		copySource(t, r.root, changed)
		if err := os.WriteFile(filepath.Join(changed, "cmd", "promote", "extra.go"), []byte("package main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		j = releaseJob(t, serve(t, r.assets), false)
		j.env["PROMOTE_INSTALL"] = "release"
		res = j.run(ctx, filepath.Join(changed, "actions", "setup"), nil, nil)
		if res.stepError == nil || !strings.Contains(res.logs["prepare"], "was built from other source") {
			t.Errorf("changed source: error %v, log %q; want the pinned release refused for other source", res.stepError, res.logs["prepare"])
		}

		j = releaseJob(t, serve(t, r.assets), false)
		j.env["PROMOTE_INSTALL"] = "latest"
		res = j.run(ctx, setup, nil, nil)
		if res.stepError == nil || !strings.Contains(res.logs["prepare"], "PROMOTE_INSTALL is 'latest'; want auto") {
			t.Errorf("PROMOTE_INSTALL=latest: error %v, log %q; want it refused with the choices", res.stepError, res.logs["prepare"])
		}
	})

	t.Run("damaged pinned file and incomplete release are refused", func(t *testing.T) {
		t.Parallel()
		damaged := t.TempDir()
		copySource(t, r.root, damaged)
		pinned := filepath.Join(damaged, "actions", "setup", "checksums.txt")
		data, err := os.ReadFile(pinned)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pinned, append(data, "not a checksum line\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		j := releaseJob(t, serve(t, r.assets), true)
		res := j.run(ctx, filepath.Join(damaged, "actions", "setup"), nil, nil)
		want := pinned + ":" + fmt.Sprint(strings.Count(string(data), "\n")+1) + ": want '<sha256>  <archive name>'"
		if res.stepError == nil || !strings.Contains(res.logs["prepare"], want) {
			t.Errorf("error %v, log %q; want %q", res.stepError, res.logs["prepare"], want)
		}

		// pin refuses a release that lacks a platform's archive.
		var lines []string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !strings.HasPrefix(line, "#") && !strings.Contains(line, "windows_arm64") {
				lines = append(lines, line)
			}
		}
		incomplete := filepath.Join(t.TempDir(), "checksums.txt")
		if err := os.WriteFile(incomplete, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", filepath.Join(damaged, "actions", "setup", "install.sh"), "pin", releaseVersion, "promote-dev/promote", incomplete).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "has no SHA-256 line for promote_9.8.7_windows_arm64.zip") {
			t.Errorf("install.sh pin of an incomplete release: %v\n%s; want it refused naming the archive", err, out)
		}
	})

	t.Run("missing asset falls back to a source build", func(t *testing.T) {
		t.Parallel()
		j := releaseJob(t, serve(t, nil), true)
		res := j.run(ctx, setup, nil, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		want := "building promote from source: release " + releaseVersion + " has no archive " + r.archive
		if !strings.Contains(res.logs["prepare"], want) || res.outputs["from"] != "source" {
			t.Errorf("prepare log = %q, from %q; want %q", res.logs["prepare"], res.outputs["from"], want)
		}
		if !strings.Contains(res.logs["install"], "building promote from source") {
			t.Errorf("install log = %q, want a source build", res.logs["install"])
		}
		// Built from this source, it reports no release version.
		if res.outputs["version"] == releaseVersion || res.outputs["version"] == "" {
			t.Errorf("version = %q, want the source build's", res.outputs["version"])
		}
	})
}

// BenchmarkSetupFromRelease measures how long actions/setup takes to be
// ready on a fresh job when the release exists: hashing the action's source,
// downloading the archive from a local server, checking its checksum,
// unpacking it and running promote version. On GitHub the download itself
// adds the transfer of the archive (about 12 MB).
func BenchmarkSetupFromRelease(b *testing.B) {
	r := newRelease(b)
	srv := serve(b, r.assets)
	setup := filepath.Join(r.root, "actions", "setup")
	ctx := b.Context()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		j := releaseJob(b, srv, false)
		b.StartTimer()
		res := j.run(ctx, setup, nil, nil)
		if res.stepError != nil || res.outputs["from"] != "release" {
			b.Fatalf("error %v, outputs %v", res.stepError, res.outputs)
		}
	}
}

// TestGoReleaser checks .goreleaser.yaml with the GoReleaser the release
// workflow uses and builds this machine's binary from it as a snapshot: the
// binary must run and report the snapshot's version. make release-check sets
// GORELEASER (it runs beside the fuzzers, see the Makefile).
func TestGoReleaser(t *testing.T) {
	goreleaser := os.Getenv("GORELEASER")
	if goreleaser == "" {
		t.Skip("set GORELEASER to a goreleaser v2 binary; make release-check does")
	}
	ctx := testContext(t)
	root := repoRoot(t)
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, goreleaser, args...)
		cmd.Dir = root
		// The release build sets its own flags; the race detector's, which
		// make test passes to go commands, cannot build without cgo.
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("goreleaser %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("check", func(t *testing.T) {
		run(t, "check")
	})
	t.Run("snapshot build of one target", func(t *testing.T) {
		dist := t.TempDir()
		bin := filepath.Join(dist, "promote")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		// --output copies the binary out of dist/, which goreleaser
		// cleans and fills with this one target.
		run(t, "build", "--snapshot", "--single-target", "--clean", "--output", bin)
		out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", bin, err, out)
		}
		// The snapshot of .goreleaser.yaml: the next patch version.
		if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "v") || !strings.Contains(got, "-snapshot+") {
			t.Errorf("promote version = %q, want the snapshot's vX.Y.Z-snapshot+<commit>", got)
		}
		// -s -w: the release binary carries no symbol table.
		if out, err := exec.CommandContext(ctx, "go", "tool", "nm", bin).CombinedOutput(); err == nil || !strings.Contains(string(out), "no symbols") {
			t.Errorf("go tool nm %s: %v, %.200s; want no symbols (built with -s -w)", bin, err, out)
		}
	})
}
