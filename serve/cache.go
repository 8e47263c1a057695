package serve

import (
	"sync"
	"time"
)

// ttlCache is a map whose entries expire. It is bounded: past max entries
// an insert first drops what has expired and, if that is not enough,
// everything — a flood of distinct images costs re-verification, never
// memory.
type ttlCache[K comparable, V any] struct {
	mu  sync.RWMutex
	m   map[K]ttlEntry[V]
	max int
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any](max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{m: map[K]ttlEntry[V]{}, max: max}
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v until expires; an entry already expired is not stored.
func (c *ttlCache[K, V]) put(k K, v V, now, expires time.Time) {
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: expires}
}

func (c *ttlCache[K, V]) flush() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

func (c *ttlCache[K, V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
