package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// encodeEnvelope returns the bytes to store for a DSSE envelope with one
// signature.
func encodeEnvelope(payload []byte, keyID string, sig []byte) ([]byte, error) {
	b, err := json.Marshal(dsse.Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the DSSE envelope: %w", err)
	}
	return append(b, '\n'), nil
}

// envelope is a decoded DSSE envelope.
type envelope struct {
	payloadType string
	payload     []byte
	signatures  []envelopeSignature
}

type envelopeSignature struct {
	keyID string
	sig   []byte
}

var (
	envelopeFields  = []string{"payloadType", "payload", "signatures"}
	signatureFields = []string{"keyid", "sig"}
)

// decodeEnvelope decodes stored envelope bytes strictly: the three fields
// of a DSSE envelope and no others, each once.
func decodeEnvelope(data []byte) (*envelope, error) {
	r := jsonReader{b: data}
	env := &envelope{}
	seen, err := r.fields("envelope", envelopeFields, func(i int) error {
		switch i {
		case 0:
			s, err := r.str()
			env.payloadType = s
			return err
		case 1:
			b, err := r.rawStr()
			if err != nil {
				return err
			}
			if env.payload, err = decodeBase64(b); err != nil {
				return fmt.Errorf("payload: %w", err)
			}
			return nil
		}
		return r.array(func() error {
			var s envelopeSignature
			seen, err := r.fields("signature", signatureFields, func(i int) error {
				if i == 0 {
					var err error
					s.keyID, err = r.str()
					return err
				}
				b, err := r.rawStr()
				if err != nil {
					return err
				}
				if s.sig, err = decodeBase64(b); err != nil {
					return fmt.Errorf("sig: %w", err)
				}
				return nil
			})
			if err == nil && seen&2 == 0 {
				err = errors.New(`signature without "sig"`)
			}
			env.signatures = append(env.signatures, s)
			return err
		})
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	for i, name := range envelopeFields {
		if seen&(1<<i) == 0 {
			return nil, fmt.Errorf("no %q", name)
		}
	}
	return env, nil
}

// decodeBase64 decodes standard base64, or the URL-safe alphabet, as DSSE
// allows.
func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		n, err = base64.URLEncoding.Decode(out, b)
		if err != nil {
			return nil, errors.New("not base64")
		}
	}
	return out[:n], nil
}

// statement is what Verify reads from an in-toto Statement.
type statement struct {
	predicateType string
	commit        string
	// subjects are the subjects with a sha256 digest, in order.
	subjects  []Subject
	predicate Predicate
	// version is the predicate's version, from its type.
	version int
}

var (
	statementFields = []string{"_type", "subject", "predicateType", "predicate"}
	subjectFields   = []string{"name", "digest"}
)

// decodeStatement decodes an in-toto Statement v1 with a Promote predicate,
// strictly: the fields Promote writes and no others, each once. It checks
// the statement's type, that the predicate type matches the predicate's kind
// and that a subject carries a gitCommit digest.
func decodeStatement(payload []byte) (*statement, error) {
	r := jsonReader{b: payload}
	st := &statement{}
	var predicateSeen uint64
	seen, err := r.fields("statement", statementFields, func(i int) error {
		switch i {
		case 0:
			t, err := r.rawStr()
			if err == nil && string(t) != intoto.StatementTypeUri {
				err = fmt.Errorf("_type is %q, want %q", t, intoto.StatementTypeUri)
			}
			return err
		case 1:
			return r.array(func() error { return r.subject(st) })
		case 2:
			var err error
			st.predicateType, err = r.str()
			return err
		}
		var err error
		predicateSeen, err = r.predicate(&st.predicate)
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	for i, name := range statementFields {
		if seen&(1<<i) == 0 {
			return nil, fmt.Errorf("no %q", name)
		}
	}
	if st.commit == "" {
		return nil, errors.New("no subject with a gitCommit digest")
	}
	if !isHex(st.commit, 40) {
		return nil, fmt.Errorf("gitCommit digest %q: want 40 lowercase hex digits", st.commit)
	}
	kind, version, ok := kindOf(st.predicateType)
	if !ok {
		return nil, fmt.Errorf("predicateType %q is not a Promote evidence type such as %q", st.predicateType, KindPromotion.PredicateType())
	}
	st.version = version
	p := &st.predicate
	if err := checkPredicateFields(predicateSeen, version, kind); err != nil {
		return nil, err
	}
	switch {
	case p.Kind != kind:
		return nil, fmt.Errorf("predicate kind %q does not match predicateType %q", p.Kind, st.predicateType)
	case p.Seq == 0:
		return nil, errors.New("predicate has no seq")
	case p.Seq == 1 && p.Prev != "":
		return nil, fmt.Errorf("record 1 has prev %q, want none", p.Prev)
	case p.Seq > 1 && !isHex(p.Prev, 64):
		return nil, fmt.Errorf("prev %q: want 64 lowercase hex digits", p.Prev)
	}
	return st, nil
}

// subject reads one subject; the one with a gitCommit digest names the
// commit.
func (r *jsonReader) subject(st *statement) error {
	var algs [][]byte
	var name, sha []byte
	_, err := r.fields("subject", subjectFields, func(i int) error {
		if i == 0 {
			var err error
			name, err = r.rawStr()
			return err
		}
		return r.object(func(alg []byte) error {
			if slices.ContainsFunc(algs, func(a []byte) bool { return bytes.Equal(a, alg) }) {
				return fmt.Errorf("invalid JSON: duplicate key %q", alg)
			}
			algs = append(algs, alg)
			d, err := r.rawStr()
			if err != nil {
				return err
			}
			if string(alg) == string(intoto.AlgorithmGitCommit) {
				if st.commit != "" {
					return errors.New("more than one gitCommit subject")
				}
				st.commit = string(d)
			}
			if string(alg) == string(intoto.AlgorithmSHA256) {
				sha = d
			}
			return nil
		})
	})
	if err == nil && len(algs) == 0 {
		err = errors.New("subject without a digest")
	}
	if err == nil && sha != nil {
		st.subjects = append(st.subjects, Subject{Name: string(name), SHA256: string(sha)})
	}
	return err
}

// predicate reads a Promote predicate of any version and returns the set
// of predicateFields it has, as bits.
func (r *jsonReader) predicate(p *Predicate) (uint64, error) {
	seen, err := r.fields("predicate", predicateNames, func(i int) error {
		if err := predicateFields[i].read(r, p); err != nil {
			return fmt.Errorf("predicate %s: %w", predicateNames[i], err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if seen&(1<<slices.Index(predicateNames, "seq")) == 0 || seen&(1<<slices.Index(predicateNames, "prev")) == 0 {
		return 0, errors.New("predicate without seq and prev")
	}
	return seen, nil
}
