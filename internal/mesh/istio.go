package mesh

import (
	"fmt"
	"slices"
	"strings"

	"istio.io/istio/pkg/config"
)

// validateIstio runs Istio's own validation of one decoded resource, as the
// admission webhook and istioctl validate do.
func validateIstio(r *Resource) (out []Finding) {
	if r.Message == nil || r.Istio.validate == nil {
		return nil
	}
	at := r.Pos
	if r.Spec != nil {
		at = Pos{r.Pos.File, r.Spec.Line, r.Spec.Column}
	}
	defer func() {
		if p := recover(); p != nil {
			out = append(out, Finding{Pos: at, Severity: Error, Rule: RuleIstio, Resource: r.Ref(),
				Message: fmt.Sprintf("Istio's validation crashed on this resource (%v); please report it with the resource", p)})
		}
	}()
	cfg := config.Config{
		Meta: config.Meta{
			GroupVersionKind: r.Istio.GroupVersionKind(),
			Name:             r.Name,
			Namespace:        r.Namespace,
			Labels:           r.Labels,
			Annotations:      r.Annotations,
		},
		Spec: r.Message,
	}
	warning, err := r.Istio.validate(cfg)
	for _, e := range split(err) {
		out = append(out, Finding{Pos: at, Severity: Error, Rule: RuleIstio, Resource: r.Ref(), Message: e})
	}
	for _, w := range split(warning) {
		out = append(out, Finding{Pos: at, Severity: Warning, Rule: RuleIstioWarning, Resource: r.Ref(), Message: w})
	}
	return out
}

// split returns the messages of err, one per error a multierror holds.
func split(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case interface{ WrappedErrors() []error }:
			for _, inner := range e.WrappedErrors() {
				walk(inner)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			if msg := strings.TrimSpace(err.Error()); msg != "" {
				out = append(out, msg)
			}
		}
	}
	walk(err)
	// Istio sometimes reports an error both bare and wrapped with the
	// resource's name; keep the wrapped one.
	return slices.DeleteFunc(out, func(m string) bool {
		return slices.ContainsFunc(out, func(o string) bool { return o != m && strings.HasSuffix(o, ": "+m) })
	})
}
