package github

import (
	"bytes"
	"container/list"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

const (
	// maxCacheBytes bounds the bodies the ETag cache keeps; the least
	// recently used go first.
	maxCacheBytes = 32 << 20
	// maxCachedBody is the largest body worth keeping.
	maxCachedBody = 4 << 20
)

// etagCache makes GETs conditional. It remembers the ETag and body of each
// 200 answer and sends the ETag back as If-None-Match; GitHub answers 304,
// free of rate limit, when nothing changed, and the cache hands go-github a
// 200 with the remembered body. Entries are keyed by the credentials'
// identity, the Accept header and the full URL, so one identity never sees
// what another may not. It is safe for concurrent use.
type etagCache struct {
	next     http.RoundTripper
	identity string
	maxBytes int // maxCacheBytes but in tests

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
	size    int
}

type cacheEntry struct {
	key    string
	etag   string
	header http.Header
	body   []byte
}

func newETagCache(next http.RoundTripper, identity string) *etagCache {
	return &etagCache{next: next, identity: identity, maxBytes: maxCacheBytes, entries: make(map[string]*list.Element)}
}

func (c *etagCache) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" ||
		req.Header.Get("If-Modified-Since") != "" || req.Header.Get("Range") != "" {
		return c.next.RoundTrip(req)
	}
	key := c.identity + "\x00" + req.Header.Get("Accept") + "\x00" + req.URL.String()
	entry := c.get(key)
	out := req
	if entry != nil {
		out = req.Clone(req.Context())
		out.Header.Set("If-None-Match", entry.etag)
	}
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && entry != nil:
		discard(resp)
		return entry.response(req, resp.Header), nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		return c.store(key, req, resp)
	}
	return resp, nil
}

// store keeps a 200 answer's body and returns the answer with a body that
// reads the kept copy.
func (c *etagCache) store(key string, req *http.Request, resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("reading GitHub's answer: %w", err)
	}
	if len(body) > maxCachedBody {
		// Too big to keep: hand it on whole, read part and rest.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))

	entry := &cacheEntry{key: key, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.size -= len(old.Value.(*cacheEntry).body)
		c.lru.Remove(old)
	}
	c.entries[key] = c.lru.PushFront(entry)
	c.size += len(body)
	for c.size > c.maxBytes {
		oldest := c.lru.Back()
		e := oldest.Value.(*cacheEntry)
		c.lru.Remove(oldest)
		delete(c.entries, e.key)
		c.size -= len(e.body)
	}
	return resp, nil
}

func (c *etagCache) get(key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// response rebuilds the cached answer, updated with the 304's headers (rate
// limits, dates) as RFC 9111 asks, and marked X-From-Cache, which go-github
// recognises and does not count.
func (e *cacheEntry) response(req *http.Request, fresh http.Header) *http.Response {
	h := e.header.Clone()
	for k, v := range fresh {
		switch k {
		case "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding":
		default:
			h[k] = v
		}
	}
	h.Set("X-From-Cache", "1")
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)),
		Request:       req,
	}
}
