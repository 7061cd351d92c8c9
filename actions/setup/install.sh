#!/usr/bin/env bash
# Installs the promote binary for a GitHub Actions job: the release binary
# pinned in this action when there is one for the runner, else a build from
# the source of the action that runs this script.
#
# Every Promote action (setup, plan, the root action, ...) calls this one script
# so the install logic lives in one place; their action.yml files only wire
# three steps around it:
#
#   install.sh prepare   hash the source, decide how this job gets the binary
#                        (outputs from: job, release or source), and install
#                        the release binary when one is pinned for this
#                        source and platform; outputs from, hash, key, dir,
#                        installed
#   actions/cache        restores outputs.dir under outputs.key (skipped when
#                        installed is true)
#   install.sh install   builds on a cache miss, puts the binary on PATH;
#                        outputs path, version
#   install.sh sources   prints the files the hash covers (to debug a cache
#                        that keeps missing)
#   install.sh hash      prints the source hash
#   install.sh pin VERSION REPOSITORY CHECKSUMS
#                        writes checksums.txt beside this script: the release
#                        workflow pins the checksums of the archives it built
#                        (docs/releasing.md)
#
# The release binary is used only when checksums.txt, which the release
# workflow commits into the action, pins a release built from exactly this
# source (same source hash) with an archive for this OS and architecture; the
# archive is downloaded and checked against that pinned SHA-256 before anything
# in it runs. A checksum that does not match fails the step: it is never a
# reason to fall back. Settings (job or step env):
#
#   PROMOTE_INSTALL       auto (default): the release binary when pinned, else
#                         a source build; release: the release binary or
#                         fail; source: always build from source
#   PROMOTE_RELEASE_URL   where releases are downloaded from, default
#                         $GITHUB_SERVER_URL/<repository>/releases/download;
#                         the archive is <url>/<version>/<archive name>
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

# The pinned release: checksums.txt beside this script, written by
# `install.sh pin` in the release workflow, never by hand.
pinned_file=$script_dir/checksums.txt

# Supported platforms, in GoReleaser's names; the release has one archive each.
release_platforms=(linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64)

# release_platform prints the runner's platform in GoReleaser's names
# (linux_amd64), or fails when the release has no archive for it.
release_platform() {
	local os arch
	case ${RUNNER_OS:-$(uname -s)} in
	Linux) os=linux ;;
	macOS | Darwin) os=darwin ;;
	Windows | MINGW* | MSYS*) os=windows ;;
	*) return 1 ;;
	esac
	case ${RUNNER_ARCH:-$(uname -m)} in
	X64 | x86_64 | amd64) arch=amd64 ;;
	ARM64 | aarch64 | arm64) arch=arm64 ;;
	*) return 1 ;;
	esac
	echo "${os}_$arch"
}

# archive_name is the name GoReleaser gives the archive of a version and a
# platform (.goreleaser.yaml: zip on Windows, tar.gz elsewhere).
archive_name() {
	local version=${1#v} platform=$2 ext=tar.gz
	[[ $platform != windows_* ]] || ext=zip
	echo "promote_${version}_$platform.$ext"
}

# read_pinned reads checksums.txt into pinned_version, pinned_repository,
# pinned_source and pinned_sums (archive name -> SHA-256). A malformed file
# fails the step: it is part of the action as released, not user input.
read_pinned() {
	pinned_version= pinned_repository= pinned_source=
	declare -gA pinned_sums=()
	local line key value n=0
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		line=${line%$'\r'}
		case $line in
		'# '*:*)
			key=${line#'# '} key=${key%%:*}
			value=${line#*: }
			case $key in
			version) pinned_version=$value ;;
			repository) pinned_repository=$value ;;
			source) pinned_source=$value ;;
			esac
			;;
		'#'* | '') ;;
		*)
			[[ $line =~ ^([0-9a-f]{64})\ \ ([A-Za-z0-9_.-]+)$ ]] ||
				fail "$pinned_file:$n: want '<sha256>  <archive name>', got ${line@Q}; the action's files are damaged: use a release of the action unchanged"
			pinned_sums[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
			;;
		esac
	done <"$pinned_file"
	[[ $pinned_version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ &&
		$pinned_repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ &&
		$pinned_source =~ ^[0-9a-f]{64}$ ]] ||
		fail "$pinned_file: want '# version: vX.Y.Z', '# repository: owner/name' and '# source: <sha256>' lines; the action's files are damaged: use a release of the action unchanged"
}

# install_release downloads the pinned release archive for this runner into
# dir and unpacks the binary there. It returns 1, with the reason in
# no_release, when there is no release binary to use; it fails the step when
# the download does not match its pinned checksum.
install_release() {
	local hash=$1 dir=$2 platform archive want base url code got tmp
	if [[ ! -f $pinned_file ]]; then
		no_release="this action pins no release binaries (actions/setup/checksums.txt is absent: only release commits have it; see docs/releasing.md)"
		return 1
	fi
	read_pinned
	if [[ $pinned_source != "$hash" ]]; then
		no_release="the release $pinned_version pinned in actions/setup/checksums.txt was built from other source (source hash $pinned_source) than this action's ($hash)"
		return 1
	fi
	if ! platform=$(release_platform); then
		no_release="release $pinned_version has no binary for ${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)} (it has ${release_platforms[*]})"
		return 1
	fi
	archive=$(archive_name "$pinned_version" "$platform")
	want=${pinned_sums[$archive]:-}
	if [[ -z $want ]]; then
		no_release="actions/setup/checksums.txt pins no checksum for $archive"
		return 1
	fi
	if ! command -v curl >/dev/null 2>&1; then
		no_release="curl is not installed, so release $pinned_version cannot be downloaded"
		return 1
	fi
	base=${PROMOTE_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$pinned_repository/releases/download}
	url=${base%/}/$pinned_version/$archive
	mkdir -p -- "$dir"
	tmp="$dir/$archive.download"
	echo "downloading release $pinned_version of $pinned_repository for $platform: $url"
	if ! code=$(curl --silent --show-error --location --retry 3 --connect-timeout 10 --max-time 300 \
		--output "$tmp" --write-out '%{http_code}' -- "$url"); then
		rm -f -- "$tmp"
		no_release="downloading $url failed (see the log above)"
		return 1
	fi
	if [[ $code != 200 ]]; then
		rm -f -- "$tmp"
		no_release="release $pinned_version has no archive $archive at $url (HTTP $code)"
		return 1
	fi
	got=$("${sha256[@]}" <"$tmp" | cut -d ' ' -f 1)
	if [[ $got != "$want" ]]; then
		rm -f -- "$tmp"
		fail "checksum mismatch for $url: got sha256 $got, actions/setup/checksums.txt pins $want. The download is not the archive release $pinned_version was built with, so it was deleted unrun. Check PROMOTE_RELEASE_URL and any proxy in between; if the release's assets were replaced, report it to the maintainers of $pinned_repository"
	fi
	echo "sha256 $got matches the checksum pinned in actions/setup/checksums.txt"
	case $archive in
	*.zip)
		if command -v unzip >/dev/null 2>&1; then
			unzip -o -q "$tmp" promote.exe -d "$dir"
		else
			7z e -y -bd "-o$dir" "$tmp" promote.exe >/dev/null
		fi &&
			# A zip need not carry a Unix mode; Windows ignores this.
			chmod +x "$dir/promote.exe"
		;;
	*) tar -xzf "$tmp" -C "$dir" promote ;;
	esac || fail "unpacking $archive (checksum verified) failed (see the log above)"
	rm -f -- "$tmp"
}

prepare() {
	[[ -f $module_root/go.mod ]] ||
		fail "no go.mod in ${module_root@Q}: the action's files are incomplete; use the action from a full checkout of the Promote repository"
	local mode=${PROMOTE_INSTALL:-auto} hash version os arch dir from no_release=
	case $mode in
	auto | release | source) ;;
	*) fail "PROMOTE_INSTALL is ${mode@Q}; want auto (the release binary when this action pins one, else a source build), release or source" ;;
	esac
	hash=$(source_hash)
	os=${RUNNER_OS:-$(uname -s)}
	arch=${RUNNER_ARCH:-$(uname -m)}
	# One directory per source hash keeps two different Promote versions used
	# in one job from overwriting each other's binary.
	dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/promote/$hash"
	local ref="action ref ${PROMOTE_ACTION_REF:-(unknown)}${PROMOTE_ACTION_REPOSITORY:+ of $PROMOTE_ACTION_REPOSITORY}"
	if [[ ${PROMOTE_SOURCE_HASH:-} == "$hash" && -x ${PROMOTE_BIN:-} ]]; then
		from=job
	elif [[ $mode == source ]]; then
		from=source no_release="PROMOTE_INSTALL is source"
	elif install_release "$hash" "$dir"; then
		from=release
		echo "promote release $pinned_version installed ($ref): the archive for this runner matches the checksum pinned in the action"
	elif [[ $mode == release ]]; then
		fail "PROMOTE_INSTALL is release, but $no_release ($ref). Use a release of the action (docs/releasing.md), or unset PROMOTE_INSTALL to build from source"
	else
		from=source
	fi
	local key=
	if [[ $from == source ]]; then
		echo "building promote from source: $no_release ($ref)"
		require_go
		# The Go version is part of the cache key because it changes the
		# binary. It is asked inside the module so that GOTOOLCHAIN=auto
		# reports the toolchain go.mod selects.
		# (stderr stays in the log: it says why an old Go gives up, or that
		# GOTOOLCHAIN=auto is downloading a newer one.)
		if ! version=$(cd -- "$module_root" && GOWORK=off go env GOVERSION); then
			fail "the runner's Go cannot build Promote (see the log above); install Go 1.26 or newer with actions/setup-go before this action"
		fi
		# A GOEXPERIMENT shows after a space; keys are safer without.
		version=${version//[[:space:]]/-}
		key="promote-bin-$os-$arch-$version-$hash"
	fi
	{
		echo "from=$from"
		echo "hash=$hash"
		echo "key=$key"
		echo "dir=$dir"
		echo "installed=$([[ $from == source ]] && echo false || echo true)"
	} | set_outputs
}

install() {
	local hash=${PROMOTE_HASH:?set PROMOTE_HASH to the hash output of "install.sh prepare"}
	local dir=${PROMOTE_DIR:?set PROMOTE_DIR to the dir output of "install.sh prepare"}
	local from=${PROMOTE_FROM:?set PROMOTE_FROM to the from output of "install.sh prepare"}
	local bin exe=
	[[ ${RUNNER_OS:-} != Windows ]] || exe=.exe
	case $from in
	job)
		bin=${PROMOTE_BIN:?PROMOTE_BIN is not set although "install.sh prepare" found promote installed}
		echo "promote from source $hash is already installed in this job at $bin: skipping the install"
		;;
	release)
		bin="$dir/promote$exe"
		echo "promote for source $hash: the verified release binary, installed in $dir"
		;;
	source)
		bin="$dir/promote$exe"
		if [[ ${PROMOTE_CACHE_HIT:-} == true && -x $bin ]]; then
			echo "promote from source $hash restored from the cache into $dir"
		else
			require_go
			echo "building promote from source $hash into $dir"
			mkdir -p -- "$dir"
			# GOWORK=off: a go.work in the caller's workspace must not change
			# what gets built. -s -w leave out the symbol table and DWARF, a
			# quarter of the binary, which nobody debugs from a runner.
			(cd -- "$module_root" && GOWORK=off go build -trimpath -ldflags='-s -w' -o "$bin" ./cmd/promote) ||
				fail "go build of promote failed (see the log above); check that the Go on PATH is 1.26 or newer"
		fi
		;;
	*) fail "PROMOTE_FROM is ${from@Q}; want job, release or source (the from output of \"install.sh prepare\")" ;;
	esac
	if [[ $from != job ]]; then
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

# pin writes checksums.txt beside this script from a GoReleaser checksums
# file: the release workflow runs it on the commit it released, so that the
# action at the follow-up release commit installs exactly those archives.
pin() {
	local version=${1:-} repository=${2:-} checksums=${3:-}
	[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ && $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ && -f $checksums ]] ||
		fail "usage: install.sh pin vX.Y.Z owner/name path/to/checksums.txt (got ${version@Q} ${repository@Q} ${checksums@Q})"
	local platform archive line
	local -a lines=()
	for platform in "${release_platforms[@]}"; do
		archive=$(archive_name "$version" "$platform")
		line=$(grep -E "^[0-9a-f]{64}  ${archive//./\\.}\$" -- "$checksums") ||
			fail "$checksums has no SHA-256 line for $archive; every platform's archive must be in the release before it is pinned"
		lines+=("$line")
	done
	{
		echo "# Release binaries of Promote pinned in this action by the release"
		echo "# workflow (install.sh pin); never edit by hand. install.sh downloads the"
		echo "# archive for the runner and refuses it unless its SHA-256 is the one here."
		echo "# version: $version"
		echo "# repository: $repository"
		echo "# source: $(source_hash)"
		printf '%s\n' "${lines[@]}"
	} >"$pinned_file"
	echo "pinned ${#lines[@]} archives of $version in $pinned_file"
}

case ${1:-} in
prepare) prepare ;;
install) install ;;
# For finding out why a cache misses: the files the hash covers.
sources) source_files | tr '\0' '\n' ;;
hash) source_hash ;;
pin) pin "${@:2}" ;;
*)
	echo "usage: install.sh prepare|install|sources|hash|pin" >&2
	exit 2
	;;
esac
