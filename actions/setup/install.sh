#!/usr/bin/env bash
# Installs the promote binary for a GitHub Actions job, built from the source
# of the action that runs this script.
#
# Every Promote action (setup, plan, the root action, ...) calls this one script
# so the install logic lives in one place; their action.yml files only wire
# three steps around it:
#
#   install.sh prepare   hash the source, decide whether this job already has
#                        the binary; outputs hash, key, dir, installed
#   actions/cache        restores outputs.dir under outputs.key (skipped when
#                        installed is true)
#   install.sh install   builds on a cache miss, puts the binary on PATH;
#                        outputs path, version
#   install.sh sources   prints the files the hash covers (to debug a cache
#                        that keeps missing)
#
# The cache key has to be computed here: hashFiles() only reads the caller's
# workspace, and a remote action's source lives outside it.
set -euo pipefail

# The script sits in actions/setup, two levels below the module root, wherever
# the runner unpacked the action (or in the workspace for `uses: ./actions/...`).
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
module_root=$(cd -- "$script_dir/../.." && pwd)

env_file=${GITHUB_ENV:-/dev/null}
path_file=${GITHUB_PATH:-/dev/null}

# set_outputs appends its input to GITHUB_OUTPUT, or prints it when the script
# runs outside Actions (for debugging).
set_outputs() {
	if [[ -n ${GITHUB_OUTPUT:-} ]]; then
		cat >>"$GITHUB_OUTPUT"
	else
		cat
	fi
}

fail() {
	# The ::error line becomes an annotation on the run page, where a user sees
	# it without opening the log.
	echo "::error title=Promote setup::$*"
	echo "promote setup: $*" >&2
	exit 1
}

require_go() {
	command -v go >/dev/null 2>&1 ||
		fail "go is not installed or not on PATH; Promote builds its binary from source with the runner's Go: add a step 'uses: actions/setup-go' (go-version: '1.26' or newer) before this action"
}

# macOS runners ship shasum but not sha256sum. An array, not a function,
# because xargs runs it.
sha256=(sha256sum)
command -v sha256sum >/dev/null 2>&1 || sha256=(shasum -a 256)

# go_files lists, NUL-separated and relative to the module root, the Go files
# that can end up in the binary. Tests, test data and local tool directories
# are left out so that running tests or installing tools in a workspace does
# not change the hash between two installs in the same job.
go_files() {
	find . \( -name .git -o -name .tools -o -name node_modules -o -name testdata \) -prune \
		-o -type f -name '*.go' ! -name '*_test.go' -print0
}

# embedded_files lists the files named by //go:embed directives, because they
# are compiled into the binary as much as the Go code is. Patterns are
# relative to the directory of the Go file; a directory embeds its whole tree.
embedded_files() {
	local -a files
	mapfile -d '' files < <(go_files)
	((${#files[@]} > 0)) || return 0
	local line file dir pattern match
	local -a patterns
	while IFS= read -r line; do
		file=${line%%://go:embed*}
		dir=${file%/*}
		read -ra patterns <<<"${line#*://go:embed}"
		for pattern in "${patterns[@]}"; do
			pattern=${pattern#all:}
			pattern=${pattern//\"/}
			pattern=${pattern//\`/}
			while IFS= read -r match; do
				if [[ -d $match ]]; then
					find "$match" -type f -print0
				elif [[ -f $match ]]; then
					printf '%s\0' "$match"
				fi
			done < <(compgen -G "$dir/$pattern" || true)
		done
	done < <(printf '%s\0' "${files[@]}" | xargs -0 grep -H -e '^//go:embed' -- || true)
}

# source_files lists, sorted, every file the source hash covers.
source_files() {
	cd -- "$module_root"
	{
		printf '%s\0' ./go.mod
		[[ ! -f go.sum ]] || printf '%s\0' ./go.sum
		go_files
		embedded_files
	} | LC_ALL=C sort -zu
}

# source_hash is the SHA-256 over the digests and paths of every input of the
# build, so two checkouts of the same source give the same hash wherever they
# are unpacked.
source_hash() {
	(cd -- "$module_root" && source_files | xargs -0 "${sha256[@]}" --) | "${sha256[@]}" | cut -d ' ' -f 1
}

prepare() {
	require_go
	[[ -f $module_root/go.mod ]] ||
		fail "no go.mod in ${module_root@Q}: the action's files are incomplete; use the action from a full checkout of the Promote repository"
	local hash version os arch dir installed=false
	# The Go version is part of the cache key because it changes the binary.
	# It is asked inside the module so that GOTOOLCHAIN=auto reports the
	# toolchain go.mod selects.
	# (stderr stays in the log: it says why an old Go gives up, or that
	# GOTOOLCHAIN=auto is downloading a newer one.)
	if ! version=$(cd -- "$module_root" && GOWORK=off go env GOVERSION); then
		fail "the runner's Go cannot build Promote (see the log above); install Go 1.26 or newer with actions/setup-go before this action"
	fi
	# A GOEXPERIMENT shows after a space; keys are safer without.
	version=${version//[[:space:]]/-}
	hash=$(source_hash)
	os=${RUNNER_OS:-$(uname -s)}
	arch=${RUNNER_ARCH:-$(uname -m)}
	# One directory per source hash keeps two different Promote versions used
	# in one job from overwriting each other's binary.
	dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/promote/$hash"
	if [[ ${PROMOTE_SOURCE_HASH:-} == "$hash" && -x ${PROMOTE_BIN:-} ]]; then
		installed=true
	fi
	{
		echo "hash=$hash"
		echo "key=promote-bin-$os-$arch-$version-$hash"
		echo "dir=$dir"
		echo "installed=$installed"
	} | set_outputs
}

install() {
	local hash=${PROMOTE_HASH:?set PROMOTE_HASH to the hash output of "install.sh prepare"}
	local dir=${PROMOTE_DIR:?set PROMOTE_DIR to the dir output of "install.sh prepare"}
	local bin exe=
	if [[ ${PROMOTE_INSTALLED:-} == true ]]; then
		bin=${PROMOTE_BIN:?PROMOTE_BIN is not set although "install.sh prepare" found promote installed}
		echo "promote from source $hash is already installed in this job at $bin: skipping the install"
	else
		[[ ${RUNNER_OS:-} != Windows ]] || exe=.exe
		bin="$dir/promote$exe"
		if [[ ${PROMOTE_CACHE_HIT:-} == true && -x $bin ]]; then
			echo "promote from source $hash restored from the cache into $dir"
		else
			require_go
			echo "building promote from source $hash into $dir"
			mkdir -p -- "$dir"
			# GOWORK=off: a go.work in the caller's workspace must not change
			# what gets built.
			(cd -- "$module_root" && GOWORK=off go build -trimpath -o "$bin" ./cmd/promote) ||
				fail "go build of promote failed (see the log above); check that the Go on PATH is 1.26 or newer"
		fi
		echo "$dir" >>"$path_file"
		{
			echo "PROMOTE_BIN=$bin"
			echo "PROMOTE_SOURCE_HASH=$hash"
		} >>"$env_file"
	fi
	local version
	version=$("$bin" version) || fail "${bin@Q} does not run ('promote version' failed); delete the Actions cache entry whose key ends in $hash"
	{
		echo "path=$bin"
		echo "version=${version%%$'\n'*}"
	} | set_outputs
}

case ${1:-} in
prepare) prepare ;;
install) install ;;
# For finding out why a cache misses: the files the hash covers.
sources) source_files | tr '\0' '\n' ;;
*)
	echo "usage: install.sh prepare|install|sources" >&2
	exit 2
	;;
esac
