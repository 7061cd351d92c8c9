package githubtest

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// memHost is the host name of a server that runs over in-memory connections.
const memHost = "api.github.test"

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipe pairs, made by dial. Accept and the pipes block on channels only,
// never on the network, so that inside a testing/synctest bubble a goroutine
// waiting for a request counts as durably blocked and fake time can advance.
// A loopback socket does not: a bubble with a goroutine in Accept or in a
// socket read never advances its clock.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next dial.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; later dials fail.
func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr names the in-memory host.
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a client to the server through a new pipe, for
// http.Transport.DialContext.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr{}, Err: net.ErrClosed}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return memHost + ":80" }

// memServer is the HTTP server of an in-memory Server: net/http's own server
// and transport, over pipes, so that requests go through the same parsing,
// keep-alive and connection handling (hijacked and dropped connections
// included) as on loopback.
type memServer struct {
	ln        *pipeListener
	srv       *http.Server
	transport *http.Transport
	served    chan struct{} // closed when Serve returns
	inflight  sync.WaitGroup
}

func startMem(h http.Handler) *memServer {
	m := &memServer{ln: newPipeListener(), served: make(chan struct{})}
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inflight.Add(1)
		defer m.inflight.Done()
		h.ServeHTTP(w, r)
	})}
	m.transport = &http.Transport{DialContext: m.ln.dial, MaxIdleConnsPerHost: 16}
	go func() {
		defer close(m.served)
		_ = m.srv.Serve(m.ln)
	}()
	return m
}

// close shuts the server down and waits for the handlers in flight, like
// httptest.Server.Close, and drops the client's idle connections so that no
// goroutine of either side is left blocked in a bubble.
func (m *memServer) close() {
	m.transport.CloseIdleConnections()
	_ = m.srv.Close()
	<-m.served
	m.inflight.Wait()
	m.transport.CloseIdleConnections()
}
