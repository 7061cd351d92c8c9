// Package evidence seals what Promote did into a signed, hash-chained,
// append-only log that tools Promote did not write can check.
//
// Every record (a promotion node's outcome, a gate's decision, a mesh
// check's result) is an in-toto Statement v1 whose subjects are the promoted
// commit and the artifacts and reports it covers, with a Promote predicate
// (see Predicate and schema/evidence-predicate.schema.json). Each statement
// is stored in its own DSSE envelope with one signature, so that
//
//	cosign verify-blob-attestation --key key.pem --insecure-ignore-tlog=true \
//	  --type https://promote.dev/evidence/promotion/v2 \
//	  --signature records/00000000000000000042.dsse.json plan.json
//
// accepts it (records written before predicate v2 have ".../v1" types and
// still verify). Records are numbered from 1 (seq) and each names the SHA-256 of
// the previous record's payload (prev).
//
// A store holds, written once each:
//
//	records/<seq>.dsse.json       one DSSE envelope per record
//	checkpoints/<size>.note       C2SP tlog-checkpoint signed notes
//	frontiers/<size>.txt          hashes that let Append extend the tree
//
// with numbers zero-padded to 20 digits so that keys sort in numeric order.
// A checkpoint states the RFC 6962 Merkle root of the first size records'
// stored bytes, signed by the same signer as the records; its signature line
// names the signer's key id and uses the C2SP signature type 0x01 (Ed25519)
// or 0x02 (ECDSA P-256, as transparency-dev and Rekor sign notes).
//
// Why prev hashes the payload rather than the whole previous envelope: an
// envelope holds its own signature, so linking envelopes would force one
// signing call per record, in order. Linking payloads lets Append sign a
// whole batch in one call (one Vault request per run), while the
// checkpoints' Merkle trees still commit to every stored byte, signatures
// included.
//
// Append seals records; Verify checks a whole log with the public keys
// alone, without re-serialising anything: signatures are checked over the
// stored bytes. LocalStore is the directory store; other stores implement
// Store.
package evidence
