package kpi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Push sends what g gathers to the Pushgateway at url, replacing the group
// of job and repository (PUT): every push carries the whole set, so a
// series that disappeared from the figures disappears from the group too.
// The grouping key never has an instance label: runners are ephemeral, and
// a group per runner would keep every runner's last figures forever, each
// one summed again by every query. repository may be empty.
func Push(ctx context.Context, client *http.Client, url, job, repository string, g prometheus.Gatherer) error {
	p := push.New(url, job).Gatherer(g)
	if client != nil {
		p = p.Client(client)
	}
	if repository != "" {
		p = p.Grouping("repository", repository)
	}
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("pushing to the Pushgateway %s: %w", url, err)
	}
	return nil
}
