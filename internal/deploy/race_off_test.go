//go:build !race

package deploy

// raceDetector reports whether the tests run with -race, which makes each
// simulated promotion about ten times as costly.
const raceDetector = false
