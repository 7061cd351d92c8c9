// Package schema holds the JSON Schema of the promotion manifest,
// promotion.yaml, for editors: yaml-language-server (VS Code's YAML
// extension, Neovim, JetBrains) uses it to complete and check the manifest.
//
// The schema checks the manifest's shape only. Promote's own parser also
// checks what a schema cannot express: duplicate keys, unknown or self
// dependencies, dependency cycles, invalid globs and unique environment
// names.
package schema

import _ "embed" // for go:embed

// JSON is the JSON Schema (draft 2020-12) of promotion.yaml, as published at
// https://raw.githubusercontent.com/promote-dev/promote/main/schema/promotion.schema.json.
// It is embedded so that `promote schema` prints the schema that matches the
// binary's manifest format. Callers must not modify it.
//
//go:embed promotion.schema.json
var JSON []byte
