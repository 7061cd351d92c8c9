package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"istio.io/istio/pkg/config"
)

// validateIstio runs Istio's own validation of one decoded resource, as the
// admission webhook and istioctl validate do. Istio's messages carry no
// position: they are at the spec until placeIstio places them.
func validateIstio(r *Resource) (out []Finding) {
	if r.Message == nil || r.Istio.validate == nil {
		return nil
	}
	at := r.Pos
	if r.Spec != nil {
		at = Pos{r.Pos.File, r.Spec.Line, r.Spec.Column}
	}
	warning, err := istioValidate(r, r.Message)
	for _, e := range split(err) {
		out = append(out, Finding{Pos: at, Severity: Error, Rule: RuleIstio, Resource: r.Ref(), Message: e})
	}
	for _, w := range split(warning) {
		out = append(out, Finding{Pos: at, Severity: Warning, Rule: RuleIstioWarning, Resource: r.Ref(), Message: w})
	}
	return out
}

// istioValidate validates spec as the spec of r.
func istioValidate(r *Resource, spec proto.Message) (warning, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("crashed in Istio's validation (%v); please report it with the resource", p)
		}
	}()
	return r.Istio.validate(config.Config{
		Meta: config.Meta{
			GroupVersionKind: r.Istio.GroupVersionKind(),
			Name:             r.Name,
			Namespace:        r.Namespace,
			Labels:           r.Labels,
			Annotations:      r.Annotations,
		},
		Spec: spec,
	})
}

// maxPlaced bounds how many of Istio's messages one check places; the rest
// stay at their resource's spec. Placing one costs about as much as
// validating a few dozen resources, and nobody reads thousands of them.
const maxPlaced = 1000

// placeIstio moves the first maxPlaced of Istio's messages among found (the
// findings of each resource, in order) to the part of the spec each is
// about, on every core.
func placeIstio(ctx context.Context, resources []*Resource, found [][]Finding) error {
	type message struct {
		r *Resource
		f *Finding
	}
	var toPlace []message
	for i, fs := range found {
		for j := range fs {
			if f := &fs[j]; (f.Rule == RuleIstio || f.Rule == RuleIstioWarning) && len(toPlace) < maxPlaced {
				toPlace = append(toPlace, message{resources[i], f})
			}
		}
	}
	_, err := forEach(ctx, len(toPlace), func(k int) []Finding {
		m := toPlace[k]
		l := &locator{r: m.r, messages: func(spec proto.Message) []string {
			w, e := istioValidate(m.r, spec)
			return append(split(e), split(w)...)
		}}
		if n := l.locate(m.f.Message); n != nil {
			m.f.Line, m.f.Col = n.Line, n.Column
		}
		return nil
	})
	return err
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
