// Package store keeps Promote's evidence where nobody can change it: an S3
// bucket under Object Lock.
//
// Every record is written once. [S3.Create] sends a conditional PutObject
// (If-None-Match: *) with an explicit Object Lock mode and retain-until date
// and an explicit SHA-256 checksum, so a second write of a key fails with
// [evidence.ErrExists] instead of adding a version, and AWS accepts the locked
// upload. [S3.Audit] proves afterwards that it stayed that way: no delete
// markers, one version per key, each locked long enough. [S3.CheckBucket]
// reports whether the bucket itself is set up to keep evidence: Object Lock,
// default retention, versioning, public access and an access audit.
//
// The package is tested against versitygw, an S3 server that enforces Object
// Lock; see the tests for the differences from AWS that it works around.
package store
