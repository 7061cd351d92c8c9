package store

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// isCode reports whether err is an S3 error with one of codes.
func isCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}

// isStatus reports whether err is an HTTP response with the status code.
func isStatus(err error, code int) bool {
	var respErr *smithyhttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == code
}

// isNotFound reports whether err says the object or version does not exist.
// A GET of a delete marker answers 404 NoSuchKey (405 MethodNotAllowed when
// named by version id).
func isNotFound(err error) bool {
	var noKey *types.NoSuchKey
	return errors.As(err, &noKey) || isCode(err, "NoSuchKey", "NoSuchVersion", "NotFound", "MethodNotAllowed")
}

// isNotImplemented reports whether the endpoint lacks the operation, as
// versitygw lacks GetPublicAccessBlock and GetBucketLogging.
func isNotImplemented(err error) bool {
	return isCode(err, "NotImplemented") || isStatus(err, 501)
}

// isAccessDenied reports whether the credentials may not make the call.
func isAccessDenied(err error) bool {
	return isCode(err, "AccessDenied", "AccessDeniedException", "AllAccessDisabled")
}

// isMissingObjectLock reports whether a locked PutObject failed because the
// bucket has no Object Lock. S3 has no error code of its own for that, only
// InvalidRequest with a message: "Bucket is missing Object Lock
// Configuration" on AWS, "...ObjectLockConfiguration" on versitygw.
func isMissingObjectLock(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidRequest" {
		return false
	}
	msg := strings.ToLower(strings.ReplaceAll(apiErr.ErrorMessage(), " ", ""))
	return strings.Contains(msg, "missingobjectlockconfiguration")
}
