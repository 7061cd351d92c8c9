package dag

import (
	"cmp"
	"slices"
	"time"
)

// Analysis holds what a plan shows about a graph: when each node can run at
// the earliest, how much work follows it, and the critical path.
type Analysis struct {
	// Wave is each node's topological level: a node's wave is one more than
	// the highest wave among the nodes it waits for.
	Wave []int
	// Waves lists the nodes of each wave, in Order.
	Waves [][]int
	// Start is each node's earliest start, counted from the start of the
	// promotion, with expected durations and soak times.
	Start []time.Duration
	// Tail is each node's bottom level: its expected duration plus the
	// longest chain of soaks and durations that must follow it. Scheduling
	// the largest tail first keeps the makespan near its lower bound.
	Tail []time.Duration
	// Critical is the longest chain of nodes, first to last, and Length its
	// expected duration.
	Critical []int
	Length   time.Duration
	// Order is a deterministic topological order, critical path first: by
	// wave, then by larger tail, then by environment and service order.
	Order []int
}

// Duration is a node's expected duration.
func (g *Graph) Duration(v int) time.Duration {
	return g.Manifest.Services[g.Nodes[v].Service].ExpectedDuration
}

// Weight is the delay an edge u → v adds: the soak time of v's environment on
// a step of the promotion path, nothing on a dependency.
func (g *Graph) Weight(u, v int) time.Duration {
	if g.IsPromotion(u, v) {
		return g.Manifest.Environments[g.Nodes[v].Env].Soak
	}
	return 0
}

// Analyze computes the waves, earliest starts, tails, critical path and order.
func (g *Graph) Analyze() *Analysis {
	n := len(g.Nodes)
	a := &Analysis{
		Wave:  make([]int, n),
		Start: make([]time.Duration, n),
		Tail:  make([]time.Duration, n),
	}
	if n == 0 {
		return a
	}

	// The passes below visit nodes in topological order, which jumps around
	// memory on large graphs; packing what they read per node into one
	// struct keeps each visit to one or two cache lines.
	type work struct {
		start, tail, dur, soak time.Duration
		service, indeg, wave   int32
	}
	ws := make([]work, n)
	for v, node := range g.Nodes {
		ws[v] = work{
			dur:     g.Duration(v),
			soak:    g.Manifest.Environments[node.Env].Soak,
			service: int32(node.Service),
			indeg:   int32(len(g.Preds(v))),
		}
	}
	weight := func(u, v *work) time.Duration {
		if u.service == v.service {
			return v.soak
		}
		return 0
	}

	// Kahn's algorithm yields a topological order and the waves at once. The
	// manifest has no dependency cycle and the promotion path only moves
	// forward, so every node is reached.
	topo := make([]int, 0, n)
	for v := range n {
		if ws[v].indeg == 0 {
			topo = append(topo, v)
		}
	}
	for i := 0; i < len(topo); i++ {
		u := &ws[topo[i]]
		for _, w := range g.Succs(topo[i]) {
			v := &ws[w]
			v.wave = max(v.wave, u.wave+1)
			v.start = max(v.start, u.start+u.dur+weight(u, v))
			v.indeg--
			if v.indeg == 0 {
				topo = append(topo, int(w))
			}
		}
	}
	for i := len(topo) - 1; i >= 0; i-- {
		u := &ws[topo[i]]
		var follow time.Duration
		for _, w := range g.Succs(topo[i]) {
			v := &ws[w]
			follow = max(follow, weight(u, v)+v.tail)
		}
		u.tail = u.dur + follow
	}
	for v := range ws {
		a.Wave[v], a.Start[v], a.Tail[v] = int(ws[v].wave), ws[v].start, ws[v].tail
	}

	last := 0
	for v := range n {
		if end := a.Start[v] + g.Duration(v); end > a.Length || (end == a.Length && v < last) {
			a.Length, last = end, v
		}
	}

	// Walk back from the node that finishes last along the predecessors that
	// determined each start.
	for v := last; ; {
		a.Critical = append(a.Critical, v)
		next := -1
		for _, w := range g.Preds(v) {
			u := int(w)
			if a.Start[u]+g.Duration(u)+g.Weight(u, v) == a.Start[v] && (next < 0 || u < next) {
				next = u
			}
		}
		if next < 0 {
			break
		}
		v = next
	}
	slices.Reverse(a.Critical)

	// Nodes are numbered by environment, then service declaration order, so
	// the node number is the last tie-break. Sorting inline keys wave by wave
	// keeps the sort cache-friendly on large graphs.
	waves := 0
	for _, w := range a.Wave {
		waves = max(waves, w+1)
	}
	type key struct {
		tail time.Duration
		v    int
	}
	offset := make([]int, waves+1)
	for _, w := range a.Wave {
		offset[w+1]++
	}
	for w := range waves {
		offset[w+1] += offset[w]
	}
	keys := make([]key, n)
	fill := slices.Clone(offset[:waves])
	for v, w := range a.Wave {
		keys[fill[w]] = key{a.Tail[v], v}
		fill[w]++
	}
	a.Order = topo
	a.Waves = make([][]int, waves)
	for w := range waves {
		wave := keys[offset[w]:offset[w+1]]
		slices.SortFunc(wave, func(x, y key) int {
			return cmp.Or(cmp.Compare(y.tail, x.tail), cmp.Compare(x.v, y.v))
		})
		for i, k := range wave {
			a.Order[offset[w]+i] = k.v
		}
		a.Waves[w] = a.Order[offset[w]:offset[w+1]:offset[w+1]]
	}
	return a
}
