#!/bin/sh
# Deploys service-c. Promote runs this command for each environment with
# PROMOTE_SERVICE, PROMOTE_ENVIRONMENT, PROMOTE_GITHUB_ENVIRONMENT and
# PROMOTE_REF set; a real one would call kubectl, helm or Argo CD here.
set -eu
: "${PROMOTE_SERVICE:?run by promote run}" "${PROMOTE_ENVIRONMENT:?run by promote run}"
echo "deploying $PROMOTE_SERVICE at ${PROMOTE_REF:-HEAD} to $PROMOTE_ENVIRONMENT (GitHub environment ${PROMOTE_GITHUB_ENVIRONMENT:-$PROMOTE_ENVIRONMENT})"
sleep "${PROMOTE_DEMO_DELAY:-1}"
echo "service-c is live in $PROMOTE_ENVIRONMENT"
